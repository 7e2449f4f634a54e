//! Bringing people in: the operator's `admin create-user`, the first-run setup link, and
//! the first admin created through it.

use uuid::Uuid;

use super::{Role, password, store, tokens};
use crate::{
    audit::{self, Actor, Change},
    error::{Error, FieldError},
    model::{EmailAddress, Slug},
    store::Store,
};

/// What `create-user` made or found.
#[derive(Debug, serde::Serialize)]
pub struct UserCreated {
    pub workspace_id: Uuid,
    pub user_id: Uuid,
}

pub struct NewUser<'a> {
    pub workspace_slug: &'a str,
    /// The workspace's display name if it must be created (defaults to the slug).
    pub workspace_name: Option<&'a str>,
    pub email: &'a str,
    pub display_name: Option<&'a str>,
    pub password: &'a str,
    pub role: Role,
}

/// Create the user (or reset the password of an existing one) with `role` in the workspace,
/// creating the workspace if it does not exist. All or nothing.
pub async fn create_user(
    store: &Store,
    actor: &Actor,
    u: NewUser<'_>,
) -> Result<UserCreated, Error> {
    let mut errors = Vec::new();
    let slug = Slug::parse(u.workspace_slug)
        .map_err(|e| errors.push(FieldError::new("workspace", e.0)))
        .ok();
    let email = EmailAddress::parse(u.email)
        .map_err(|e| errors.push(FieldError::new("email", e.0)))
        .ok();
    if let Err(e) = password::check_policy(u.password) {
        errors.push(e);
    }
    let (Some(slug), Some(email), true) = (slug, email, errors.is_empty()) else {
        return Err(Error::Invalid(errors));
    };
    let hash = password::hash(u.password.to_owned()).await?;
    let display_name = u
        .display_name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| email.as_str().split('@').next().unwrap_or("").to_owned());

    let txn = store.write().await?;
    let workspace = match store::find_workspace_by_slug(&txn, slug.as_str()).await? {
        Some(w) => w,
        None => {
            let w = store::insert_workspace(
                &txn,
                slug.as_str(),
                u.workspace_name.unwrap_or(slug.as_str()),
            )
            .await?;
            audit::record(
                &txn,
                actor,
                Change {
                    workspace_id: Some(w.id),
                    action: "workspace.created",
                    entity_type: "workspace",
                    entity_id: Some(w.id.to_string()),
                    before: None,
                    after: Some(serde_json::json!({"slug": w.slug, "name": w.name})),
                },
            )
            .await?;
            w
        }
    };
    let (user_id, action) = match store::find_user_by_email(&txn, email.as_str()).await? {
        Some(existing) => {
            store::set_user_password(&txn, existing.id, &hash).await?;
            (existing.id, "user.updated")
        }
        None => (
            store::insert_user(&txn, email.as_str(), &display_name, &hash).await?,
            "user.created",
        ),
    };
    store::upsert_membership(&txn, workspace.id, user_id, u.role.as_str()).await?;
    audit::record(
        &txn,
        actor,
        Change {
            workspace_id: Some(workspace.id),
            action,
            entity_type: "user",
            entity_id: Some(user_id.to_string()),
            before: None,
            after: Some(serde_json::json!({"email": email.as_str(), "role": u.role})),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(UserCreated {
        workspace_id: workspace.id,
        user_id,
    })
}

/// If nobody can sign in yet, make a one-time setup token (valid for 24 hours) and return
/// it; the caller prints the link.
pub async fn setup_token_if_needed(store: &Store) -> Result<Option<String>, Error> {
    let conn = store.conn();
    if store::count_users(conn).await? > 0 {
        return Ok(None);
    }
    let token = tokens::random_token(32);
    store::insert_setup_token(
        conn,
        &tokens::digest(&token),
        store.clock().now() + chrono::Duration::hours(24),
    )
    .await?;
    Ok(Some(token))
}

pub async fn setup_token_valid(store: &Store, token: &str) -> Result<bool, Error> {
    let conn = store.conn();
    Ok(store::count_users(conn).await? == 0
        && store::setup_token_valid(conn, &tokens::digest(token)).await?)
}

/// The first admin and workspace, from the setup page.
pub struct FirstAdmin<'a> {
    pub token: &'a str,
    pub workspace_name: &'a str,
    pub display_name: &'a str,
    pub email: &'a str,
    pub password: &'a str,
}

pub async fn complete_setup(store: &Store, f: FirstAdmin<'_>) -> Result<UserCreated, Error> {
    if !setup_token_valid(store, f.token).await? {
        return Err(Error::Forbidden(
            "this setup link is no longer valid; restart the server for a new one".into(),
        ));
    }
    let name = f.workspace_name.trim();
    let slug = Slug::from_name(name).map_err(|e| Error::invalid("workspace_name", e.0))?;
    let created = create_user(
        store,
        &Actor::operator(),
        NewUser {
            workspace_slug: slug.as_str(),
            workspace_name: Some(name),
            email: f.email,
            display_name: Some(f.display_name),
            password: f.password,
            role: Role::Admin,
        },
    )
    .await?;
    let txn = store.write().await?;
    store::clear_setup_tokens(&txn).await?;
    txn.commit().await?;
    Ok(created)
}

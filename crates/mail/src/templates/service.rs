//! Template use cases: write one (checked against the engine, so a template that names
//! an unknown variable is refused at save), change, list and delete them, and render one
//! for a real contact, as the send job will for each email.

use salesos_contacts::{accounts, contacts};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    ACCOUNT_FIELDS, CONTACT_FIELDS, Draft, NewTemplate, Template, TemplatePatch,
    render::{Rendered, Renderer},
    store::{self, NAME_KEY, TemplateRow},
};
use crate::{
    actions::WRITE_TEMPLATES,
    platform::{
        auth::{Principal, store as auth_store},
        error::{Error, FieldError},
        runtime::topics::Topic,
        store::{Db, Store, broken_key},
    },
    topics::{TEMPLATE_CREATED, TEMPLATE_DELETED, TEMPLATE_UPDATED},
};

fn taken(name: &str) -> Error {
    Error::conflict("name", format!("a template named `{name}` exists already"))
}

/// Check a draft fully: its fields, then every part against the engine. Returns it tidied
/// with the variables it uses.
fn checked(draft: Draft) -> Result<(Draft, Vec<String>), Error> {
    draft.check().map_err(Error::Invalid)?;
    let draft = draft.tidy();
    let uses = Renderer::new()
        .check(draft.parts(), &draft.variables)
        .map_err(Error::Invalid)?;
    Ok((draft, uses))
}

async fn emit<C: Db>(
    conn: &C,
    principal: &Principal,
    topic: &Topic,
    before: Option<&Template>,
    after: Option<&Template>,
) -> Result<(), Error> {
    let Some(id) = after.or(before).map(|m| m.id) else {
        return Ok(());
    };
    crate::changes::record(conn, principal, topic, "template", id, before, after).await
}

/// A unique-name violation as a 409, anything else as it is.
fn saved(result: Result<(), sea_orm::DbErr>, name: &str) -> Result<(), Error> {
    result.map_err(|e| match broken_key(&e, &[NAME_KEY]) {
        Some(_) => taken(name),
        None => e.into(),
    })
}

pub async fn create(
    store: &Store,
    principal: &Principal,
    input: NewTemplate,
) -> Result<Template, Error> {
    principal.require(WRITE_TEMPLATES)?;
    let (draft, uses) = checked(Draft::from(input))?;
    let now = store.now();
    let mut row = TemplateRow {
        id: store.clock().new_id(),
        workspace_id: principal.workspace_id,
        name: String::new(),
        subject: String::new(),
        html: String::new(),
        text_body: None,
        variables: Value::Null,
        uses: Value::Null,
        created_by: principal.user_id,
        created_at: now,
        updated_at: now,
    };
    row.set(draft, uses);
    let txn = store.write().await?;
    saved(store::insert(&txn, &row).await, &row.name)?;
    let shown = row.shown();
    emit(&txn, principal, &TEMPLATE_CREATED, None, Some(&shown)).await?;
    txn.commit().await?;
    Ok(shown)
}

pub async fn get(store: &Store, principal: &Principal, id: Uuid) -> Result<Template, Error> {
    Ok(find(store.conn(), principal, id).await?.shown())
}

async fn find<C: Db>(conn: &C, principal: &Principal, id: Uuid) -> Result<TemplateRow, Error> {
    store::get(conn, principal.workspace_id, id)
        .await?
        .ok_or(Error::NotFound("template"))
}

pub async fn update(
    store: &Store,
    principal: &Principal,
    id: Uuid,
    patch: TemplatePatch,
) -> Result<Template, Error> {
    principal.require(WRITE_TEMPLATES)?;
    let txn = store.write().await?;
    let before = find(&txn, principal, id).await?;
    let (draft, uses) = checked(before.draft().patched(patch))?;
    let mut row = before.clone();
    row.set(draft, uses);
    row.updated_at = store.now();
    saved(store::update(&txn, &row).await, &row.name)?;
    let (b, a) = (before.shown(), row.shown());
    emit(&txn, principal, &TEMPLATE_UPDATED, Some(&b), Some(&a)).await?;
    txn.commit().await?;
    Ok(a)
}

pub async fn delete(store: &Store, principal: &Principal, id: Uuid) -> Result<(), Error> {
    principal.require(WRITE_TEMPLATES)?;
    let txn = store.write().await?;
    let row = find(&txn, principal, id).await?;
    store::delete(&txn, principal.workspace_id, id).await?;
    emit(&txn, principal, &TEMPLATE_DELETED, Some(&row.shown()), None).await?;
    txn.commit().await?;
    Ok(())
}

pub async fn list(
    store: &Store,
    principal: &Principal,
    contains: Option<&str>,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Template>, Error> {
    let rows = store::list(
        store.conn(),
        principal.workspace_id,
        contains,
        before,
        limit,
    )
    .await?;
    Ok(rows.iter().map(TemplateRow::shown).collect())
}

const MAX_SEED: u32 = 1_000_000;

/// Render a template for one of the workspace's contacts.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplatePreviewRequest {
    pub contact_id: Uuid,
    /// Values of the template's declared variables.
    #[schema(value_type = Option<Object>)]
    pub variables: Option<Map<String, Value>>,
    /// Which spintax choices to show, 0 to 1000000 (an email's are fixed by its id); 0
    /// when left out.
    #[schema(minimum = 0, maximum = 1000000)]
    pub seed: Option<u32>,
}

/// A template rendered for one contact.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplatePreview {
    /// The saved template, or null for a template being written.
    pub template_id: Option<Uuid>,
    pub contact_id: Uuid,
    #[serde(flatten)]
    pub rendered: Rendered,
}

/// The fields of a serialized record a template may name, without the empty ones (so a
/// template that prints one fails, and `default` fills it).
fn picked(record: &impl Serialize, fields: &[&str]) -> Value {
    let Ok(Value::Object(all)) = serde_json::to_value(record) else {
        return Value::Object(Map::new());
    };
    Value::Object(
        all.into_iter()
            .filter(|(k, v)| fields.contains(&k.as_str()) && !v.is_null() && v != "")
            .collect(),
    )
}

/// Who an email is from, as a template sees it.
#[derive(Clone, Debug, Default)]
pub struct Sender {
    pub name: Option<String>,
    pub email: Option<String>,
    pub signature: Option<String>,
}

impl Sender {
    fn value(&self) -> Value {
        let mut out = Map::new();
        if let Some(name) = self.name.as_deref().filter(|n| !n.trim().is_empty()) {
            out.insert("name".into(), name.into());
            if let Some(first) = name.split_whitespace().next() {
                out.insert("first_name".into(), first.into());
            }
        }
        for (k, v) in [("email", &self.email), ("signature", &self.signature)] {
            if let Some(v) = v.as_deref().filter(|v| !v.trim().is_empty()) {
                out.insert(k.into(), v.into());
            }
        }
        Value::Object(out)
    }

    /// The member behind `principal`, if any (an operator's API key has none).
    pub async fn of<C: Db>(conn: &C, principal: &Principal) -> Result<Self, Error> {
        let Some(user_id) = principal.user_id else {
            return Ok(Self::default());
        };
        Ok(auth_store::member(conn, principal.workspace_id, user_id)
            .await?
            .map(|m| Sender {
                name: Some(m.display_name),
                email: Some(m.email),
                signature: None,
            })
            .unwrap_or_default())
    }
}

/// The values a template is rendered with for `contact`: `contact`, `account`, `sender`,
/// `custom` (the contact's custom fields) and the declared `variables`, refusing any
/// variable the template does not declare.
pub async fn context(
    store: &Store,
    principal: &Principal,
    declared: &[String],
    contact: &contacts::service::Contact,
    sender: &Sender,
    variables: Map<String, Value>,
) -> Result<Value, Error> {
    let undeclared: Vec<FieldError> = variables
        .keys()
        .filter(|k| !declared.contains(k))
        .map(|k| {
            FieldError::new(
                "variables",
                format!("`{k}` is not a variable of this template; it declares {declared:?}"),
            )
        })
        .collect();
    if !undeclared.is_empty() {
        return Err(Error::Invalid(undeclared));
    }
    let account = match contact.account_id {
        Some(id) => match accounts::service::get(store, principal, id).await {
            Ok(a) => picked(&a, ACCOUNT_FIELDS),
            Err(Error::NotFound(_)) => Value::Object(Map::new()),
            Err(e) => return Err(e),
        },
        None => Value::Object(Map::new()),
    };
    let custom: Map<String, Value> = contact
        .custom_fields
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut ctx: Map<String, Value> = variables
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .collect();
    ctx.insert("contact".into(), picked(contact, CONTACT_FIELDS));
    ctx.insert("account".into(), account);
    ctx.insert("sender".into(), sender.value());
    ctx.insert("custom".into(), Value::Object(custom));
    Ok(Value::Object(ctx))
}

/// Render `draft` for a contact of the workspace, with the caller as the sender.
async fn render_for(
    store: &Store,
    principal: &Principal,
    draft: &Draft,
    contact_id: Uuid,
    values: Option<Map<String, Value>>,
    seed: Option<u32>,
) -> Result<Rendered, Error> {
    let seed = seed.unwrap_or(0);
    if seed > MAX_SEED {
        return Err(Error::invalid("seed", format!("must be 0 to {MAX_SEED}")));
    }
    let contact = match contacts::service::get(store, principal, contact_id).await {
        Err(Error::NotFound(_)) => {
            return Err(Error::invalid(
                "contact_id",
                "no contact of this workspace has this id",
            ));
        }
        other => other?,
    };
    let sender = Sender::of(store.conn(), principal).await?;
    let ctx = context(
        store,
        principal,
        &draft.variables,
        &contact,
        &sender,
        values.unwrap_or_default(),
    )
    .await?;
    Renderer::new()
        .render(draft.parts(), &ctx, u64::from(seed))
        .map_err(|e| Error::invalid(e.part, e.message))
}

/// Render a saved template for a contact of the workspace, with the caller as the sender.
pub async fn preview(
    store: &Store,
    principal: &Principal,
    id: Uuid,
    input: TemplatePreviewRequest,
) -> Result<TemplatePreview, Error> {
    let draft = find(store.conn(), principal, id).await?.draft();
    let rendered = render_for(
        store,
        principal,
        &draft,
        input.contact_id,
        input.variables,
        input.seed,
    )
    .await?;
    Ok(TemplatePreview {
        template_id: Some(id),
        contact_id: input.contact_id,
        rendered,
    })
}

/// A template being written, not saved yet.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateParts {
    #[schema(min_length = 1, max_length = 500)]
    pub subject: String,
    #[schema(min_length = 1, max_length = 262144)]
    pub html: String,
    #[schema(max_length = 262144)]
    pub text: Option<String>,
    #[schema(max_items = 50)]
    pub variables: Option<Vec<String>>,
}

/// Render a template being written for one contact (the editor's live preview).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftPreviewRequest {
    pub template: TemplateParts,
    pub contact_id: Uuid,
    /// Values of the template's declared variables.
    #[schema(value_type = Option<Object>)]
    pub variables: Option<Map<String, Value>>,
    #[schema(minimum = 0, maximum = 1000000)]
    pub seed: Option<u32>,
}

/// Check a template being written as a save would (errors name `template.<part>`), then
/// render it for a contact, saving nothing.
pub async fn preview_draft(
    store: &Store,
    principal: &Principal,
    input: DraftPreviewRequest,
) -> Result<TemplatePreview, Error> {
    let t = input.template;
    let draft = Draft {
        name: "preview".into(),
        subject: t.subject,
        html: t.html,
        text: t.text,
        variables: t.variables.unwrap_or_default(),
    };
    let (draft, _) = checked(draft).map_err(|e| match e {
        Error::Invalid(errors) => Error::Invalid(
            errors
                .into_iter()
                .map(|f| FieldError::new(format!("template.{}", f.field), f.message))
                .collect(),
        ),
        other => other,
    })?;
    let rendered = render_for(
        store,
        principal,
        &draft,
        input.contact_id,
        input.variables,
        input.seed,
    )
    .await?;
    Ok(TemplatePreview {
        template_id: None,
        contact_id: input.contact_id,
        rendered,
    })
}

/// What an email is written from: a saved template, or a subject and body of its own.
pub enum EmailSource {
    Saved(Uuid),
    Written {
        subject: String,
        html: String,
        text: Option<String>,
    },
}

/// Render what an email says for `contact`, as a send renders it: a saved template of the
/// workspace (a missing one is `template_id`'s error), or a written subject and body
/// checked as a template's save would check them; spintax seeded with `seed`.
pub async fn render_email(
    store: &Store,
    principal: &Principal,
    source: EmailSource,
    contact: &contacts::service::Contact,
    sender: &Sender,
    variables: Map<String, Value>,
    seed: u64,
) -> Result<Rendered, Error> {
    let draft = match source {
        EmailSource::Saved(id) => match find(store.conn(), principal, id).await {
            Ok(row) => row.draft(),
            Err(Error::NotFound(_)) => {
                return Err(Error::invalid(
                    "template_id",
                    "no template of this workspace has this id",
                ));
            }
            Err(e) => return Err(e),
        },
        EmailSource::Written {
            subject,
            html,
            text,
        } => {
            let draft = Draft {
                name: "email".into(),
                subject,
                html,
                text,
                variables: variables.keys().cloned().collect(),
            };
            checked(draft)?.0
        }
    };
    let ctx = context(
        store,
        principal,
        &draft.variables,
        contact,
        sender,
        variables,
    )
    .await?;
    Renderer::new()
        .render(draft.parts(), &ctx, seed)
        .map_err(|e| Error::invalid(e.part, e.message))
}

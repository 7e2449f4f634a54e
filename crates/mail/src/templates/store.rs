//! Queries for email templates.

use chrono::{DateTime, Utc};
use salesos_platform::store::Db;
use sea_orm::{DbErr, FromQueryResult};
use uuid::Uuid;

use super::{Draft, Template};
use crate::platform::store::{
    UniqueKey, exec, find_in_workspace,
    query::{SqlBuilder, like_escape},
    statement,
};

salesos_platform::table! {
    #[derive(Clone, Debug)]
    pub struct TemplateRow in "email_templates" {
        pub id: Uuid,
        pub workspace_id: Uuid,
        pub name: String,
        pub subject: String,
        pub html: String,
        pub text_body: Option<String>,
        pub variables: serde_json::Value,
        pub uses: serde_json::Value,
        pub created_by: Option<Uuid>,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
    }
}

/// One template per name in a workspace.
pub const NAME_KEY: UniqueKey = UniqueKey {
    index: "email_templates_name",
    table: "email_templates",
    columns: &["workspace_id", "name"],
};

fn strings(v: &serde_json::Value) -> Vec<String> {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

impl TemplateRow {
    pub fn shown(&self) -> Template {
        Template {
            id: self.id,
            name: self.name.clone(),
            subject: self.subject.clone(),
            html: self.html.clone(),
            text: self.text_body.clone(),
            variables: strings(&self.variables),
            uses: strings(&self.uses),
            created_by: self.created_by,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    pub fn draft(&self) -> Draft {
        Draft {
            name: self.name.clone(),
            subject: self.subject.clone(),
            html: self.html.clone(),
            text: self.text_body.clone(),
            variables: strings(&self.variables),
        }
    }

    /// This row holding `draft`, which names `uses`.
    pub fn set(&mut self, draft: Draft, uses: Vec<String>) {
        self.name = draft.name;
        self.subject = draft.subject;
        self.html = draft.html;
        self.text_body = draft.text;
        self.variables = serde_json::json!(draft.variables);
        self.uses = serde_json::json!(uses);
    }
}

pub async fn insert<C: Db>(conn: &C, r: &TemplateRow) -> Result<(), DbErr> {
    exec(
        conn,
        &format!(
            "INSERT INTO email_templates ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            TemplateRow::COLUMNS
        ),
        vec![
            r.id.into(),
            r.workspace_id.into(),
            r.name.clone().into(),
            r.subject.clone().into(),
            r.html.clone().into(),
            r.text_body.clone().into(),
            r.variables.clone().into(),
            r.uses.clone().into(),
            r.created_by.into(),
            r.created_at.into(),
            r.updated_at.into(),
        ],
    )
    .await
    .map(drop)
}

pub async fn update<C: Db>(conn: &C, r: &TemplateRow) -> Result<(), DbErr> {
    exec(
        conn,
        "UPDATE email_templates SET name = $1, subject = $2, html = $3, text_body = $4, \
         variables = $5, uses = $6, updated_at = $7 WHERE workspace_id = $8 AND id = $9",
        vec![
            r.name.clone().into(),
            r.subject.clone().into(),
            r.html.clone().into(),
            r.text_body.clone().into(),
            r.variables.clone().into(),
            r.uses.clone().into(),
            r.updated_at.into(),
            r.workspace_id.into(),
            r.id.into(),
        ],
    )
    .await
    .map(drop)
}

pub async fn get<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<TemplateRow>, DbErr> {
    find_in_workspace(conn, workspace_id, id).await
}

pub async fn delete<C: Db>(conn: &C, workspace_id: Uuid, id: Uuid) -> Result<u64, DbErr> {
    exec(
        conn,
        "DELETE FROM email_templates WHERE workspace_id = $1 AND id = $2",
        vec![workspace_id.into(), id.into()],
    )
    .await
}

/// Newest first, `limit + 1` rows (the extra one says there is a next page); `contains`
/// matches part of the name, case-insensitively.
pub async fn list<C: Db>(
    conn: &C,
    workspace_id: Uuid,
    contains: Option<&str>,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<TemplateRow>, DbErr> {
    let mut b = SqlBuilder::new(&format!(
        "SELECT {} FROM email_templates WHERE workspace_id = $1",
        TemplateRow::COLUMNS
    ));
    b.values.push(workspace_id.into());
    if let Some(text) = contains {
        let p = b.bind(format!("%{}%", like_escape(&text.to_lowercase())));
        b.push(&format!(" AND LOWER(name) LIKE {p} ESCAPE '\\'"));
    }
    if let Some(id) = before {
        let i = b.bind(id);
        b.push(&format!(" AND id < {i}"));
    }
    b.push(&format!(" ORDER BY id DESC LIMIT {}", limit + 1));
    let stmt = statement(conn.get_database_backend(), &b.sql, b.values);
    TemplateRow::find_by_statement(stmt).all(conn).await
}

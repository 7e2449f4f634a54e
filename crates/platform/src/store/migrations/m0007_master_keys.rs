//! The master keys stored secrets are sealed with, by id (never the keys themselves), and
//! the stored answers to idempotent requests sealed: an answer may hold a secret that is
//! shown once.

use super::{Migration as Step, Schema};
use crate::secrets::stored;

pub struct Migration;

const KEYS: &str = r#"
CREATE TABLE master_keys (
    id text PRIMARY KEY,
    created_at {ts} NOT NULL,
    retired_at {ts}
);
"#;

#[async_trait::async_trait]
impl Step for Migration {
    fn name(&self) -> &'static str {
        "m0007_master_keys"
    }

    async fn up(&self, schema: &Schema<'_>) -> Result<(), sea_orm::DbErr> {
        schema.run(KEYS).await?;
        stored::enroll(schema.conn()).await?;
        stored::reseal_answers(schema.conn()).await.map(drop)
    }
}

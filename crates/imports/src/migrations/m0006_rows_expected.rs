//! How many rows an import expects in all, judged from the part of the file written so far,
//! so a progress bar can count rows written against rows to come.

use salesos_platform::store::migrations::{Migration as Step, Schema};

pub struct Migration;

#[async_trait::async_trait]
impl Step for Migration {
    fn name(&self) -> &'static str {
        "m0006_import_rows_expected"
    }

    async fn up(&self, schema: &Schema<'_>) -> Result<(), sea_orm::DbErr> {
        schema
            .run("ALTER TABLE imports ADD COLUMN rows_expected {bigint};\n")
            .await
    }
}

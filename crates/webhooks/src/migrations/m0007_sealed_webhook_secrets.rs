//! Webhook signing secrets sealed with the master key: an older build kept them in plain
//! text.

use salesos_platform::{
    secrets::stored::reseal_column_in,
    store::migrations::{Migration as Step, Schema},
};

use crate::store::SEALED;

pub struct Migration;

#[async_trait::async_trait]
impl Step for Migration {
    fn name(&self) -> &'static str {
        "m0007_sealed_webhook_secrets"
    }

    async fn up(&self, schema: &Schema<'_>) -> Result<(), sea_orm::DbErr> {
        for col in SEALED {
            reseal_column_in(schema.conn(), *col).await?;
        }
        Ok(())
    }
}

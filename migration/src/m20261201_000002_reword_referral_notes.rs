//! Case histories no longer name the partner a case was referred to: which partner took a case on tells
//! what the case is about (a shelter, a rehabilitation centre), and the history is read by everyone who
//! may read the case. Notes written by older code ("referred to <code>") and by the demo data ("Dirujuk ke
//! <code>") are rewritten to the text the API writes now.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE case_status_changes SET note = 'referred to a partner organisation' \
                 WHERE note LIKE 'Dirujuk ke %' OR (note LIKE 'referred to %' \
                       AND note <> 'referred to a partner organisation')",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Deliberately nothing: the partner codes removed were the leak; bringing them back is not possible
        // (they are gone) and not wanted. The rewritten notes stay valid under the older schema.
        Ok(())
    }
}

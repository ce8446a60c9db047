//! Optimistic-locking versions for volunteers, programmes and enrollments, which STAFF now edit through
//! the API: each write bumps `version`, and a write based on an older one is refused.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables that gain a `version`. One ALTER per table: SQLite takes one change per statement.
const TABLES: &[&str] = &["volunteers", "programmes", "enrollments"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            // Existing rows start at version 1, as new rows do.
            manager
                .alter_table(Table::alter().table(*table).add_column(col::integer("version").default(1)).take())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES.iter().rev() {
            manager.alter_table(Table::alter().table(*table).drop_column("version").take()).await?;
        }
        Ok(())
    }
}

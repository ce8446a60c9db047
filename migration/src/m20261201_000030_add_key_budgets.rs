//! The rate-limit budget of each API key, held next to the key so that every replica charges the same
//! bucket: `bucket_level` is the points in use, in thousandths of a point, as they stood at
//! `bucket_at` (milliseconds since the epoch); the level drains at the configured restore rate
//! (a leaky bucket, as Shopify's). Integers only, so the arithmetic is the same on SQLite and
//! PostgreSQL.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: [&str; 2] = ["bucket_level", "bucket_at"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in COLUMNS {
            manager
                .alter_table(Table::alter().table("api_keys").add_column(col::big_integer(column).default(0)).take())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS {
            manager.alter_table(Table::alter().table("api_keys").drop_column(column).take()).await?;
        }
        Ok(())
    }
}

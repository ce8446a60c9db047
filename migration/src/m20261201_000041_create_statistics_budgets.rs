//! `statistics_budgets`: the statistics cells each key received per day (in the city's time zone), so
//! that every replica enforces the same daily budget. One row per key and day, charged with one upsert;
//! keys without a row have used nothing. No foreign key: the server's own keyless callers are charged
//! as the nil key.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

use crate::columns::{drop_tables, instant};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("statistics_budgets")
                    .col(col::uuid("api_key_id"))
                    .col(col::date("day"))
                    .col(col::big_integer("cells"))
                    .col(col::big_integer("requests"))
                    .col(instant("updated_at"))
                    .primary_key(Index::create().col("api_key_id").col("day"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["statistics_budgets"]).await
    }
}

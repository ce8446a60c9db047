//! `record_key` on every table the statistics count (cases, referrals, outcomes, enrollments,
//! volunteers): a random integer in `[0, 2^31)` fixed when the record is written, from which the cell
//! key method perturbs published counts (a cell's key is the sum of its records' keys modulo 2^31).
//!
//! Existing rows get random keys from the database's own generator (`random()`), new rows from the
//! server's (the operating system's). On PostgreSQL the column is added with a volatile default, which
//! fills every existing row with its own value, and the default is dropped afterwards, so that an insert
//! that forgets the key fails instead of getting a shared one. SQLite can neither add a NOT NULL column
//! without a constant default nor drop a default later: there the column is added with the default 0
//! and every existing row then drawn. A CHECK keeps keys in range on both.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables whose rows statistics count.
const TABLES: &[&str] = &["cases", "referrals", "outcomes", "enrollments", "volunteers"];

const CHECK: &str = "CHECK (record_key BETWEEN 0 AND 2147483647)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in TABLES {
            match manager.get_database_backend() {
                DbBackend::Postgres => {
                    db.execute_unprepared(&format!(
                        "ALTER TABLE {table} ADD COLUMN record_key integer NOT NULL \
                         DEFAULT floor(random() * 2147483648)::integer {CHECK}"
                    ))
                    .await?;
                    db.execute_unprepared(&format!("ALTER TABLE {table} ALTER COLUMN record_key DROP DEFAULT")).await?;
                }
                _ => {
                    db.execute_unprepared(&format!(
                        "ALTER TABLE {table} ADD COLUMN record_key integer NOT NULL DEFAULT 0 {CHECK}"
                    ))
                    .await?;
                    db.execute_unprepared(&format!("UPDATE {table} SET record_key = random() & 2147483647")).await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            manager.alter_table(Table::alter().table(*table).drop_column("record_key").take()).await?;
        }
        Ok(())
    }
}

//! NIK uniqueness as a database guarantee: persons gain `possible_duplicate_of` (set when a non-STAFF
//! caller registers a NIK already on record, so that the answer never tells them it is), and a partial
//! unique index makes the NIK unique among persons not so flagged. Duplicates already present are
//! flagged first (each pointing at the earliest person with its NIK), so that the index can be built.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table("persons").add_column(col::uuid_null("possible_duplicate_of")).take())
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "UPDATE persons SET possible_duplicate_of = ( \
                 SELECT first.id FROM persons first \
                 WHERE first.nik = persons.nik \
                   AND (first.created_at < persons.created_at \
                        OR (first.created_at = persons.created_at AND first.id < persons.id)) \
                 ORDER BY first.created_at, first.id LIMIT 1) \
             WHERE nik IS NOT NULL AND EXISTS ( \
                 SELECT 1 FROM persons first \
                 WHERE first.nik = persons.nik \
                   AND (first.created_at < persons.created_at \
                        OR (first.created_at = persons.created_at AND first.id < persons.id)))",
        )
        .await?;
        db.execute_unprepared(
            "CREATE UNIQUE INDEX idx_persons_nik_unique ON persons (nik) \
             WHERE nik IS NOT NULL AND possible_duplicate_of IS NULL",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("DROP INDEX idx_persons_nik_unique").await?;
        manager.alter_table(Table::alter().table("persons").drop_column("possible_duplicate_of").take()).await?;
        Ok(())
    }
}

//! Two more audit actions: `DENIED` (a request was refused a field or an object outside the caller's
//! scope: probing leaves a trace) and `REFUSED` (a write carrying personal data was refused; the record
//! names the fields carried, never their values).
//!
//! The allowed actions are a CHECK constraint on `audit_events.action`. PostgreSQL replaces the
//! constraint; SQLite cannot alter a CHECK, so the table is rebuilt with every row carried over (the
//! way SQLite's documentation prescribes for schema changes `ALTER TABLE` cannot make).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const BEFORE: &[&str] = &["READ", "CREATE", "UPDATE", "EXPORT"];
const AFTER: &[&str] = &["READ", "CREATE", "UPDATE", "EXPORT", "DENIED", "REFUSED"];

const COLUMNS: &str =
    "id, occurred_at, api_key_id, actor, action, subject_type, subject_id, person_id, fields, before, after";

const INDEXES: &[&[&str]] = &[
    &["occurred_at"],
    &["person_id", "occurred_at"],
    &["api_key_id", "occurred_at"],
    &["subject_type", "subject_id"],
    &["action", "occurred_at"],
];

fn list(values: &[&str]) -> String {
    values.iter().map(|value| format!("'{value}'")).collect::<Vec<_>>().join(", ")
}

async fn allow(manager: &SchemaManager<'_>, values: &[&str]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    match manager.get_database_backend() {
        DbBackend::Postgres => {
            db.execute_unprepared("ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS audit_events_action_check")
                .await?;
            db.execute_unprepared(&format!(
                "ALTER TABLE audit_events ADD CONSTRAINT audit_events_action_check CHECK (action IN ({}))",
                list(values)
            ))
            .await?;
        }
        _ => {
            // One batch, so that every statement runs on the same connection in order.
            let indexes: String = INDEXES
                .iter()
                .map(|columns| {
                    format!(
                        "CREATE INDEX ix_audit_events_{} ON audit_events ({});",
                        columns.join("_"),
                        columns.join(", ")
                    )
                })
                .collect();
            db.execute_unprepared(&format!(
                "CREATE TABLE audit_events_rebuilt ( \
                   id uuid_text NOT NULL PRIMARY KEY, \
                   occurred_at timestamp_with_timezone_text NOT NULL, \
                   api_key_id uuid_text NULL, \
                   actor varchar NOT NULL, \
                   action varchar NOT NULL CHECK (action IN ({})), \
                   subject_type varchar NOT NULL, \
                   subject_id varchar NOT NULL, \
                   person_id uuid_text NULL, \
                   fields text NULL, \
                   before text NULL, \
                   after text NULL, \
                   CONSTRAINT fk_audit_events_api_key_id FOREIGN KEY (api_key_id) REFERENCES api_keys (id) \
                     ON DELETE RESTRICT); \
                 INSERT INTO audit_events_rebuilt ({COLUMNS}) SELECT {COLUMNS} FROM audit_events; \
                 DROP TABLE audit_events; \
                 ALTER TABLE audit_events_rebuilt RENAME TO audit_events; \
                 {indexes}",
                list(values)
            ))
            .await?;
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        allow(manager, AFTER).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Records of the new kinds cannot be kept under the old constraint; they are deleted.
        manager
            .get_connection()
            .execute_unprepared("DELETE FROM audit_events WHERE action IN ('DENIED', 'REFUSED')")
            .await?;
        allow(manager, BEFORE).await
    }
}

//! Column and index helpers shared by the migrations.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;
use sea_orm_migration::sea_orm::ExprTrait;

/// A table with `id` (UUID primary key), and `created_at` / `updated_at` instants added by [`stamps`].
pub fn table(name: &'static str) -> TableCreateStatement {
    Table::create().table(name).col(col::pk_uuid("id")).take()
}

/// Adds the `created_at` and `updated_at` UTC instants every row carries.
pub fn stamps(mut table: TableCreateStatement) -> TableCreateStatement {
    table.col(instant("created_at")).col(instant("updated_at"));
    table
}

/// A NOT NULL UTC instant (`timestamptz` on PostgreSQL).
pub fn instant(name: &'static str) -> ColumnDef {
    col::timestamp_with_time_zone(name)
}

/// A nullable UTC instant.
pub fn instant_null(name: &'static str) -> ColumnDef {
    col::timestamp_with_time_zone_null(name)
}

/// A NOT NULL text column restricted to `values` by a CHECK constraint.
pub fn one_of(name: &'static str, values: &[&str]) -> ColumnDef {
    col::string(name).check(Expr::col(name).is_in(values.iter().copied())).take()
}

/// A nullable text column restricted to `values` (or NULL) by a CHECK constraint.
pub fn one_of_null(name: &'static str, values: &[&str]) -> ColumnDef {
    col::string_null(name).check(Expr::col(name).is_in(values.iter().copied())).take()
}

/// A foreign key from `table.column` to `target.target_column`; deleting the target is refused.
pub fn fk(
    table: &'static str,
    column: &'static str,
    target: &'static str,
    target_column: &'static str,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(table, column)
        .to(target, target_column)
        .on_delete(ForeignKeyAction::Restrict)
        .take()
}

/// Creates the index `ix_<table>_<columns>`.
pub async fn index(manager: &SchemaManager<'_>, table: &'static str, columns: &[&'static str]) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(format!("ix_{table}_{}", columns.join("_"))).table(table);
    for column in columns {
        index.col(*column);
    }
    manager.create_index(index.take()).await
}

/// Drops tables in the order given (children first).
pub async fn drop_tables(manager: &SchemaManager<'_>, tables: &[&'static str]) -> Result<(), DbErr> {
    for table in tables {
        manager.drop_table(Table::drop().table(*table).take()).await?;
    }
    Ok(())
}

pub const SEX: &[&str] = &["MALE", "FEMALE"];

pub const PPKS_CATEGORIES: &[&str] = &[
    "NEGLECTED_TODDLER",
    "NEGLECTED_CHILD",
    "CHILD_IN_CONFLICT_WITH_LAW",
    "STREET_CHILD",
    "CHILD_WITH_DISABILITY",
    "CHILD_VICTIM_OF_VIOLENCE",
    "CHILD_NEEDING_SPECIAL_PROTECTION",
    "NEGLECTED_ELDERLY",
    "PERSON_WITH_DISABILITY",
    "SEX_WORKER",
    "HOMELESS",
    "BEGGAR",
    "SCAVENGER",
    "MINORITY_GROUP",
    "FORMER_PRISONER",
    "PERSON_LIVING_WITH_HIV",
    "SUBSTANCE_ABUSE_VICTIM",
    "TRAFFICKING_VICTIM",
    "VIOLENCE_VICTIM",
    "TROUBLED_MIGRANT_WORKER",
    "NATURAL_DISASTER_VICTIM",
    "SOCIAL_DISASTER_VICTIM",
    "ECONOMICALLY_VULNERABLE_WOMAN",
    "POOR",
    "PSYCHOSOCIAL_FAMILY_PROBLEM",
    "REMOTE_INDIGENOUS_COMMUNITY",
    "UNINHABITABLE_HOUSE",
];

/// Runs, on SQLite, a script of `;`-separated statements (whose driver runs one statement per call) and
/// then each trigger (whose bodies hold `;` of their own): how the tally migrations create their tables
/// and triggers there.
pub async fn sqlite_script(
    db: &sea_orm_migration::SchemaManagerConnection<'_>,
    script: &str,
    triggers: &[String],
) -> Result<(), DbErr> {
    use sea_orm_migration::sea_orm::ConnectionTrait;
    for statement in script.split(';').filter(|statement| !statement.trim().is_empty()) {
        db.execute_unprepared(statement).await?;
    }
    for trigger in triggers {
        db.execute_unprepared(trigger).await?;
    }
    Ok(())
}

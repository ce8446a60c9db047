//! Closure durations kept in order, so that the median and 90th percentile of days to close are read
//! by rank from an index instead of sorting every closed case of a million.
//!
//! `case_closures` holds one row per closed case with the group `*` (every case), and one per closed
//! case and PPKS category with the category as group, each with the days from opening to closing,
//! computed exactly as the statistics compute them from the cases (on PostgreSQL a numeric, which
//! `percentile_cont` turns into the double precision kept here). The index on `(grp, days)` gives the
//! k-th shortest closure of a group directly.
//!
//! Like the tallies of `create_statistics_tallies`, the rows are kept by triggers in the writing
//! transaction, only while `statistics_tally_state` holds an offset: the server builds them at start
//! (`psm-api tallies rebuild` does the same by hand), then they are maintained.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The table, in both dialects: `{days}` is the type of the days.
const TABLE: &str = "
CREATE TABLE case_closures (
    case_id {uuid} NOT NULL,
    grp varchar NOT NULL,
    days {days} NOT NULL,
    PRIMARY KEY (case_id, grp)
);
CREATE INDEX ix_case_closures_grp_days ON case_closures (grp, days);
";

/// PostgreSQL: a case's rows are replaced whenever its status or instants change; a category's row
/// follows the category.
const POSTGRES_TRIGGERS: &str = r#"
CREATE FUNCTION psm_close_cases() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT utc_offset_hours FROM statistics_tally_state WHERE id = 1) IS NULL THEN RETURN NULL; END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN DELETE FROM case_closures WHERE case_id = OLD.id; END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.status = 'CLOSED' THEN
        INSERT INTO case_closures (case_id, grp, days)
        SELECT NEW.id, g.grp, CAST(EXTRACT(EPOCH FROM (NEW.closed_at - NEW.opened_at)) / 86400.0 AS double precision)
        FROM (SELECT '*' AS grp UNION ALL SELECT cc.category FROM case_categories cc WHERE cc.case_id = NEW.id) g;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER close_cases_insert_delete AFTER INSERT OR DELETE ON cases
    FOR EACH ROW EXECUTE FUNCTION psm_close_cases();
CREATE TRIGGER close_cases_update AFTER UPDATE ON cases FOR EACH ROW
    WHEN ((OLD.status, OLD.opened_at, OLD.closed_at) IS DISTINCT FROM (NEW.status, NEW.opened_at, NEW.closed_at))
    EXECUTE FUNCTION psm_close_cases();

CREATE FUNCTION psm_close_case_categories() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT utc_offset_hours FROM statistics_tally_state WHERE id = 1) IS NULL THEN RETURN NULL; END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM case_closures WHERE case_id = OLD.case_id AND grp = OLD.category;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO case_closures (case_id, grp, days)
        SELECT c.id, NEW.category, CAST(EXTRACT(EPOCH FROM (c.closed_at - c.opened_at)) / 86400.0 AS double precision)
        FROM cases c WHERE c.id = NEW.case_id AND c.status = 'CLOSED';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER close_case_categories AFTER INSERT OR UPDATE OR DELETE ON case_categories
    FOR EACH ROW EXECUTE FUNCTION psm_close_case_categories();
"#;

const SQLITE_BUILT: &str = "(SELECT utc_offset_hours FROM statistics_tally_state WHERE id = 1) IS NOT NULL";

/// SQLite: the rows of a closed case `NEW`.
const SQLITE_CLOSE: &str = "
INSERT INTO case_closures (case_id, grp, days)
SELECT NEW.id, '*', julianday(NEW.closed_at) - julianday(NEW.opened_at) WHERE NEW.status = 'CLOSED'
UNION ALL
SELECT NEW.id, cc.category, julianday(NEW.closed_at) - julianday(NEW.opened_at)
FROM case_categories cc WHERE cc.case_id = NEW.id AND NEW.status = 'CLOSED';";

const SQLITE_CATEGORY_REMOVE: &str = "DELETE FROM case_closures WHERE case_id = OLD.case_id AND grp = OLD.category;";

const SQLITE_CATEGORY_ADD: &str = "
INSERT INTO case_closures (case_id, grp, days)
SELECT c.id, NEW.category, julianday(c.closed_at) - julianday(c.opened_at)
FROM cases c WHERE c.id = NEW.case_id AND c.status = 'CLOSED';";

fn sqlite_triggers() -> Vec<String> {
    let built = SQLITE_BUILT;
    vec![
        format!("CREATE TRIGGER close_cases_insert AFTER INSERT ON cases WHEN {built} BEGIN {SQLITE_CLOSE} END"),
        format!(
            "CREATE TRIGGER close_cases_delete AFTER DELETE ON cases WHEN {built} \
             BEGIN DELETE FROM case_closures WHERE case_id = OLD.id; END"
        ),
        format!(
            "CREATE TRIGGER close_cases_update AFTER UPDATE ON cases WHEN {built} AND \
             (OLD.status, OLD.opened_at, OLD.closed_at) IS NOT (NEW.status, NEW.opened_at, NEW.closed_at) \
             BEGIN DELETE FROM case_closures WHERE case_id = OLD.id; {SQLITE_CLOSE} END"
        ),
        format!(
            "CREATE TRIGGER close_case_categories_insert AFTER INSERT ON case_categories WHEN {built} \
             BEGIN {SQLITE_CATEGORY_ADD} END"
        ),
        format!(
            "CREATE TRIGGER close_case_categories_delete AFTER DELETE ON case_categories WHEN {built} \
             BEGIN {SQLITE_CATEGORY_REMOVE} END"
        ),
        format!(
            "CREATE TRIGGER close_case_categories_update AFTER UPDATE ON case_categories WHEN {built} \
             BEGIN {SQLITE_CATEGORY_REMOVE} {SQLITE_CATEGORY_ADD} END"
        ),
    ]
}

/// The triggers of SQLite, by name (for `down`).
const SQLITE_TRIGGER_NAMES: [&str; 6] = [
    "close_cases_insert",
    "close_cases_delete",
    "close_cases_update",
    "close_case_categories_insert",
    "close_case_categories_delete",
    "close_case_categories_update",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // The rows are filled when the tallies are next built: mark them unbuilt.
        db.execute_unprepared("UPDATE statistics_tally_state SET utc_offset_hours = NULL WHERE id = 1").await?;
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(&TABLE.replace("{uuid}", "uuid").replace("{days}", "double precision")).await?;
                db.execute_unprepared(POSTGRES_TRIGGERS).await?;
            }
            _ => {
                let table = TABLE.replace("{uuid}", "uuid_text").replace("{days}", "real");
                crate::columns::sqlite_script(db, &table, &sqlite_triggers()).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(
                "DROP TRIGGER close_cases_insert_delete ON cases; DROP TRIGGER close_cases_update ON cases; \
                 DROP TRIGGER close_case_categories ON case_categories; \
                 DROP FUNCTION psm_close_cases(); DROP FUNCTION psm_close_case_categories();",
            )
            .await?;
        } else {
            for trigger in SQLITE_TRIGGER_NAMES {
                db.execute_unprepared(&format!("DROP TRIGGER {trigger}")).await?;
            }
        }
        db.execute_unprepared("DROP TABLE case_closures").await?;
        Ok(())
    }
}

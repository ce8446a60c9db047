//! Statistics tallies: case counts pre-aggregated by the dimensions dashboards group by, kept exact by
//! triggers in the writing transaction, so that `caseStats` and `volunteerCoverage` read a few
//! thousand tally rows instead of a million cases.
//!
//! - `case_tallies`: cases by kelurahan, status, urgency and source.
//! - `case_day_tallies`: cases by the day they were opened (the instant of that day's midnight in the
//!   city), kelurahan and status.
//! - `case_category_tallies`: case categories by kelurahan, status and category (a case with two
//!   categories counts once in each).
//!
//! Each row holds the number of cases `n` and the sum of their record keys `key_sum` (the cell key of
//! disclosure control is the sum of record keys, so perturbed figures come out the same as from the
//! cases). Rows whose count falls to 0 are deleted. `statistics_tally_state` says for which city offset
//! the day tallies were built; while it is NULL (as this migration leaves it) the triggers do nothing
//! and nobody reads the tallies: the server builds them at start (`psm-api tallies rebuild` does the
//! same by hand), then they are maintained.
//!
//! Triggers rather than code in each command: every writer (commands, the seed, a migration, an
//! operator's SQL) keeps them exact, inside its own transaction.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables, in both dialects: `{instant}` is the instant type.
const TABLES: &str = "
CREATE TABLE statistics_tally_state (
    id integer PRIMARY KEY CHECK (id = 1),
    utc_offset_hours integer NULL
);
INSERT INTO statistics_tally_state (id, utc_offset_hours) VALUES (1, NULL);
CREATE TABLE case_tallies (
    kelurahan_code varchar NOT NULL,
    status varchar NOT NULL,
    urgency varchar NOT NULL,
    source varchar NOT NULL,
    n bigint NOT NULL,
    key_sum bigint NOT NULL,
    PRIMARY KEY (kelurahan_code, status, urgency, source)
);
CREATE TABLE case_day_tallies (
    opened_at {instant} NOT NULL,
    kelurahan_code varchar NOT NULL,
    status varchar NOT NULL,
    n bigint NOT NULL,
    key_sum bigint NOT NULL,
    PRIMARY KEY (opened_at, kelurahan_code, status)
);
CREATE TABLE case_category_tallies (
    kelurahan_code varchar NOT NULL,
    status varchar NOT NULL,
    category varchar NOT NULL,
    n bigint NOT NULL,
    key_sum bigint NOT NULL,
    PRIMARY KEY (kelurahan_code, status, category)
);
";

/// PostgreSQL: one function per source table; `tally_case` adds a case (sign 1) or takes it away (-1).
const POSTGRES_TRIGGERS: &str = r#"
CREATE FUNCTION psm_tally_case(c cases, sign integer, o integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    day timestamptz := date_trunc('day', c.opened_at AT TIME ZONE make_interval(hours => o))
                       AT TIME ZONE make_interval(hours => o);
BEGIN
    INSERT INTO case_tallies AS t (kelurahan_code, status, urgency, source, n, key_sum)
    VALUES (c.kelurahan_code, c.status, c.urgency, c.source, sign, sign * c.record_key::bigint)
    ON CONFLICT (kelurahan_code, status, urgency, source)
    DO UPDATE SET n = t.n + excluded.n, key_sum = t.key_sum + excluded.key_sum;
    INSERT INTO case_day_tallies AS t (opened_at, kelurahan_code, status, n, key_sum)
    VALUES (day, c.kelurahan_code, c.status, sign, sign * c.record_key::bigint)
    ON CONFLICT (opened_at, kelurahan_code, status)
    DO UPDATE SET n = t.n + excluded.n, key_sum = t.key_sum + excluded.key_sum;
    INSERT INTO case_category_tallies AS t (kelurahan_code, status, category, n, key_sum)
    SELECT c.kelurahan_code, c.status, cc.category, sign, sign * c.record_key::bigint
    FROM case_categories cc WHERE cc.case_id = c.id
    ON CONFLICT (kelurahan_code, status, category)
    DO UPDATE SET n = t.n + excluded.n, key_sum = t.key_sum + excluded.key_sum;
    IF sign < 0 THEN
        DELETE FROM case_tallies WHERE kelurahan_code = c.kelurahan_code AND status = c.status
            AND urgency = c.urgency AND source = c.source AND n = 0;
        DELETE FROM case_day_tallies WHERE opened_at = day AND kelurahan_code = c.kelurahan_code
            AND status = c.status AND n = 0;
        DELETE FROM case_category_tallies WHERE kelurahan_code = c.kelurahan_code AND status = c.status
            AND n = 0 AND category IN (SELECT cc.category FROM case_categories cc WHERE cc.case_id = c.id);
    END IF;
END $$;

CREATE FUNCTION psm_tally_cases() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE o integer;
BEGIN
    SELECT utc_offset_hours INTO o FROM statistics_tally_state WHERE id = 1;
    IF o IS NULL THEN RETURN NULL; END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN PERFORM psm_tally_case(OLD, -1, o); END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN PERFORM psm_tally_case(NEW, 1, o); END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER tally_cases_insert_delete AFTER INSERT OR DELETE ON cases
    FOR EACH ROW EXECUTE FUNCTION psm_tally_cases();
CREATE TRIGGER tally_cases_update AFTER UPDATE ON cases FOR EACH ROW
    WHEN ((OLD.opened_at, OLD.kelurahan_code, OLD.status, OLD.urgency, OLD.source, OLD.record_key)
          IS DISTINCT FROM (NEW.opened_at, NEW.kelurahan_code, NEW.status, NEW.urgency, NEW.source, NEW.record_key))
    EXECUTE FUNCTION psm_tally_cases();

CREATE FUNCTION psm_tally_case_categories() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE o integer;
BEGIN
    SELECT utc_offset_hours INTO o FROM statistics_tally_state WHERE id = 1;
    IF o IS NULL THEN RETURN NULL; END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE case_category_tallies t SET n = t.n - 1, key_sum = t.key_sum - c.record_key
        FROM cases c WHERE c.id = OLD.case_id
            AND t.kelurahan_code = c.kelurahan_code AND t.status = c.status AND t.category = OLD.category;
        DELETE FROM case_category_tallies t USING cases c WHERE c.id = OLD.case_id
            AND t.kelurahan_code = c.kelurahan_code AND t.status = c.status AND t.category = OLD.category
            AND t.n = 0;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO case_category_tallies AS t (kelurahan_code, status, category, n, key_sum)
        SELECT c.kelurahan_code, c.status, NEW.category, 1, c.record_key FROM cases c WHERE c.id = NEW.case_id
        ON CONFLICT (kelurahan_code, status, category)
        DO UPDATE SET n = t.n + excluded.n, key_sum = t.key_sum + excluded.key_sum;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER tally_case_categories AFTER INSERT OR UPDATE OR DELETE ON case_categories
    FOR EACH ROW EXECUTE FUNCTION psm_tally_case_categories();
"#;

/// SQLite: triggers cannot call functions, so each repeats the statements for its row. `{old}`/`{new}`
/// are replaced by OLD or NEW, `{sign}` by 1 or -1.
const SQLITE_ADD: &str = "
INSERT INTO case_tallies (kelurahan_code, status, urgency, source, n, key_sum)
VALUES ({row}.kelurahan_code, {row}.status, {row}.urgency, {row}.source, {sign}, {sign} * {row}.record_key)
ON CONFLICT (kelurahan_code, status, urgency, source)
DO UPDATE SET n = n + excluded.n, key_sum = key_sum + excluded.key_sum;
INSERT INTO case_day_tallies (opened_at, kelurahan_code, status, n, key_sum)
VALUES ({day}, {row}.kelurahan_code, {row}.status, {sign}, {sign} * {row}.record_key)
ON CONFLICT (opened_at, kelurahan_code, status)
DO UPDATE SET n = n + excluded.n, key_sum = key_sum + excluded.key_sum;
INSERT INTO case_category_tallies (kelurahan_code, status, category, n, key_sum)
SELECT {row}.kelurahan_code, {row}.status, cc.category, {sign}, {sign} * {row}.record_key
FROM case_categories cc WHERE cc.case_id = {row}.id
ON CONFLICT (kelurahan_code, status, category)
DO UPDATE SET n = n + excluded.n, key_sum = key_sum + excluded.key_sum;
";

const SQLITE_CLEAN: &str = "
DELETE FROM case_tallies WHERE kelurahan_code = OLD.kelurahan_code AND status = OLD.status
    AND urgency = OLD.urgency AND source = OLD.source AND n = 0;
DELETE FROM case_day_tallies WHERE opened_at = {day} AND kelurahan_code = OLD.kelurahan_code
    AND status = OLD.status AND n = 0;
DELETE FROM case_category_tallies WHERE kelurahan_code = OLD.kelurahan_code AND status = OLD.status AND n = 0
    AND category IN (SELECT cc.category FROM case_categories cc WHERE cc.case_id = OLD.id);
";

const SQLITE_OFFSET: &str = "(SELECT utc_offset_hours FROM statistics_tally_state WHERE id = 1)";

/// SQLite: the instant of the city's midnight starting the day of `{row}.opened_at`, in the text format
/// the server writes instants in.
fn sqlite_day(row: &str) -> String {
    format!(
        "strftime('%Y-%m-%dT%H:%M:%S+00:00', {row}.opened_at, {SQLITE_OFFSET} || ' hours', 'start of day', \
         (-{SQLITE_OFFSET}) || ' hours')"
    )
}

fn sqlite_add(row: &str, sign: i32) -> String {
    SQLITE_ADD.replace("{day}", &sqlite_day(row)).replace("{row}", row).replace("{sign}", &sign.to_string())
}

fn sqlite_triggers() -> Vec<String> {
    let built = format!("{SQLITE_OFFSET} IS NOT NULL");
    let clean = SQLITE_CLEAN.replace("{day}", &sqlite_day("OLD"));
    let category_remove = "
        UPDATE case_category_tallies SET n = n - 1,
            key_sum = key_sum - (SELECT c.record_key FROM cases c WHERE c.id = OLD.case_id)
        WHERE category = OLD.category
          AND (kelurahan_code, status) = (SELECT c.kelurahan_code, c.status FROM cases c WHERE c.id = OLD.case_id);
        DELETE FROM case_category_tallies WHERE category = OLD.category AND n = 0
          AND (kelurahan_code, status) = (SELECT c.kelurahan_code, c.status FROM cases c WHERE c.id = OLD.case_id);";
    let category_add = "
        INSERT INTO case_category_tallies (kelurahan_code, status, category, n, key_sum)
        SELECT c.kelurahan_code, c.status, NEW.category, 1, c.record_key FROM cases c WHERE c.id = NEW.case_id
        ON CONFLICT (kelurahan_code, status, category)
        DO UPDATE SET n = n + excluded.n, key_sum = key_sum + excluded.key_sum;";
    vec![
        format!(
            "CREATE TRIGGER tally_cases_insert AFTER INSERT ON cases WHEN {built} BEGIN {} END",
            sqlite_add("NEW", 1)
        ),
        format!(
            "CREATE TRIGGER tally_cases_delete AFTER DELETE ON cases WHEN {built} BEGIN {} {clean} END",
            sqlite_add("OLD", -1)
        ),
        format!(
            "CREATE TRIGGER tally_cases_update AFTER UPDATE ON cases WHEN {built} AND \
             (OLD.opened_at, OLD.kelurahan_code, OLD.status, OLD.urgency, OLD.source, OLD.record_key) IS NOT \
             (NEW.opened_at, NEW.kelurahan_code, NEW.status, NEW.urgency, NEW.source, NEW.record_key) \
             BEGIN {} {clean} {} END",
            sqlite_add("OLD", -1),
            sqlite_add("NEW", 1)
        ),
        format!(
            "CREATE TRIGGER tally_case_categories_insert AFTER INSERT ON case_categories WHEN {built} BEGIN {category_add} END"
        ),
        format!(
            "CREATE TRIGGER tally_case_categories_delete AFTER DELETE ON case_categories WHEN {built} BEGIN {category_remove} END"
        ),
        format!(
            "CREATE TRIGGER tally_case_categories_update AFTER UPDATE ON case_categories WHEN {built} \
             BEGIN {category_remove} {category_add} END"
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(&TABLES.replace("{instant}", "timestamptz")).await?;
                db.execute_unprepared(POSTGRES_TRIGGERS).await?;
            }
            _ => {
                crate::columns::sqlite_script(db, &TABLES.replace("{instant}", "text"), &sqlite_triggers()).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(
                "DROP TRIGGER tally_cases_insert_delete ON cases; DROP TRIGGER tally_cases_update ON cases; \
                 DROP TRIGGER tally_case_categories ON case_categories; \
                 DROP FUNCTION psm_tally_cases(); DROP FUNCTION psm_tally_case_categories(); \
                 DROP FUNCTION psm_tally_case(cases, integer, integer);",
            )
            .await?;
        } else {
            for trigger in [
                "tally_cases_insert",
                "tally_cases_delete",
                "tally_cases_update",
                "tally_case_categories_insert",
                "tally_case_categories_delete",
                "tally_case_categories_update",
            ] {
                db.execute_unprepared(&format!("DROP TRIGGER {trigger}")).await?;
            }
        }
        for table in ["case_category_tallies", "case_day_tallies", "case_tallies", "statistics_tally_state"] {
            db.execute_unprepared(&format!("DROP TABLE {table}")).await?;
        }
        Ok(())
    }
}

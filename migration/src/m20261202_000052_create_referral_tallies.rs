//! Referral tallies: the referral funnel pre-aggregated, and response and completion times kept in order,
//! so that `referralStats` by receiving organisation reads a few hundred tally rows and a few index
//! entries instead of every referral of a million cases.
//!
//! - `referral_tallies`: referrals by receiving organisation, sending organisation, status and whether
//!   they were answered (`responded`, 1 when `responded_at` is set), with their count `n` and the sum
//!   of their record keys `key_sum`, as in `case_tallies`. Rows whose count falls to 0 are deleted.
//! - `referral_durations`: one row per answered referral in the group `respond:*` and in
//!   `respond:<receiving organisation>`, and one per completed referral in `complete:*` and
//!   `complete:<receiving organisation>`, each with the hours from sending to the answer or the
//!   completion, computed exactly as the statistics compute them from the referrals (the organisation
//!   written as the statistics write a UUID key). The index on `(grp, hours)` gives the k-th shortest of
//!   a group directly, as `case_closures` does for days to close.
//!
//! Like the case tallies, the rows are kept by triggers in the writing transaction, only while
//! `statistics_tally_state` holds an offset: this migration marks the tallies unbuilt, and the server
//! builds them all at its next start (`psm-api tallies rebuild` does the same by hand).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables, in both dialects: `{uuid}` is the UUID type, `{hours}` the type of the hours.
const TABLES: &str = "
CREATE TABLE referral_tallies (
    to_organisation_id {uuid} NOT NULL,
    from_organisation_id {uuid} NOT NULL,
    status varchar NOT NULL,
    responded integer NOT NULL,
    n bigint NOT NULL,
    key_sum bigint NOT NULL,
    PRIMARY KEY (to_organisation_id, from_organisation_id, status, responded)
);
CREATE TABLE referral_durations (
    referral_id {uuid} NOT NULL,
    grp varchar NOT NULL,
    hours {hours} NOT NULL,
    PRIMARY KEY (referral_id, grp)
);
CREATE INDEX ix_referral_durations_grp_hours ON referral_durations (grp, hours);
";

/// PostgreSQL: `psm_tally_referral` adds a referral (sign 1) or takes it away (-1).
const POSTGRES_TRIGGERS: &str = r#"
CREATE FUNCTION psm_tally_referral(r referrals, sign integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    answered integer := CASE WHEN r.responded_at IS NULL THEN 0 ELSE 1 END;
BEGIN
    INSERT INTO referral_tallies AS t (to_organisation_id, from_organisation_id, status, responded, n, key_sum)
    VALUES (r.to_organisation_id, r.from_organisation_id, r.status, answered, sign, sign * r.record_key::bigint)
    ON CONFLICT (to_organisation_id, from_organisation_id, status, responded)
    DO UPDATE SET n = t.n + excluded.n, key_sum = t.key_sum + excluded.key_sum;
    IF sign < 0 THEN
        DELETE FROM referral_tallies WHERE to_organisation_id = r.to_organisation_id
            AND from_organisation_id = r.from_organisation_id AND status = r.status AND responded = answered
            AND n = 0;
        DELETE FROM referral_durations WHERE referral_id = r.id;
    ELSE
        INSERT INTO referral_durations (referral_id, grp, hours)
        SELECT r.id, d.kind || g.grp, d.hours
        FROM (VALUES
                ('respond:', r.responded_at IS NOT NULL,
                 CAST(((EXTRACT(EPOCH FROM (r.responded_at - r.sent_at)) / 86400.0) * 24.0) AS double precision)),
                ('complete:', r.status = 'COMPLETED',
                 CAST(((EXTRACT(EPOCH FROM (r.completed_at - r.sent_at)) / 86400.0) * 24.0) AS double precision))
             ) AS d (kind, wanted, hours),
             (VALUES ('*'), (CAST(r.to_organisation_id AS TEXT))) AS g (grp)
        WHERE d.wanted;
    END IF;
END $$;

CREATE FUNCTION psm_tally_referrals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT utc_offset_hours FROM statistics_tally_state WHERE id = 1) IS NULL THEN RETURN NULL; END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN PERFORM psm_tally_referral(OLD, -1); END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN PERFORM psm_tally_referral(NEW, 1); END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER tally_referrals_insert_delete AFTER INSERT OR DELETE ON referrals
    FOR EACH ROW EXECUTE FUNCTION psm_tally_referrals();
CREATE TRIGGER tally_referrals_update AFTER UPDATE ON referrals FOR EACH ROW
    WHEN ((OLD.to_organisation_id, OLD.from_organisation_id, OLD.status, OLD.sent_at, OLD.responded_at,
           OLD.completed_at, OLD.record_key)
          IS DISTINCT FROM (NEW.to_organisation_id, NEW.from_organisation_id, NEW.status, NEW.sent_at,
           NEW.responded_at, NEW.completed_at, NEW.record_key))
    EXECUTE FUNCTION psm_tally_referrals();
"#;

const SQLITE_BUILT: &str = "(SELECT utc_offset_hours FROM statistics_tally_state WHERE id = 1) IS NOT NULL";

/// SQLite: adds `{row}` with `{sign}` (1 or -1) to the tally.
const SQLITE_TALLY: &str = "
INSERT INTO referral_tallies (to_organisation_id, from_organisation_id, status, responded, n, key_sum)
VALUES ({row}.to_organisation_id, {row}.from_organisation_id, {row}.status,
        CASE WHEN {row}.responded_at IS NULL THEN 0 ELSE 1 END, {sign}, {sign} * {row}.record_key)
ON CONFLICT (to_organisation_id, from_organisation_id, status, responded)
DO UPDATE SET n = n + excluded.n, key_sum = key_sum + excluded.key_sum;
";

/// SQLite: takes `OLD` away: its emptied tally row and its durations.
const SQLITE_CLEAN: &str = "
DELETE FROM referral_tallies WHERE to_organisation_id = OLD.to_organisation_id
    AND from_organisation_id = OLD.from_organisation_id AND status = OLD.status
    AND responded = CASE WHEN OLD.responded_at IS NULL THEN 0 ELSE 1 END AND n = 0;
DELETE FROM referral_durations WHERE referral_id = OLD.id;
";

/// SQLite: the durations of `NEW`.
const SQLITE_DURATIONS: &str = "
INSERT INTO referral_durations (referral_id, grp, hours)
SELECT NEW.id, d.kind || g.grp, d.hours
FROM (SELECT 'respond:' AS kind, ((julianday(NEW.responded_at) - julianday(NEW.sent_at)) * 24.0) AS hours
      WHERE NEW.responded_at IS NOT NULL
      UNION ALL
      SELECT 'complete:', ((julianday(NEW.completed_at) - julianday(NEW.sent_at)) * 24.0)
      WHERE NEW.status = 'COMPLETED') AS d,
     (SELECT '*' AS grp UNION ALL SELECT lower(hex(NEW.to_organisation_id))) AS g;
";

fn sqlite_tally(row: &str, sign: i32) -> String {
    SQLITE_TALLY.replace("{row}", row).replace("{sign}", &sign.to_string())
}

fn sqlite_triggers() -> Vec<String> {
    let built = SQLITE_BUILT;
    vec![
        format!(
            "CREATE TRIGGER tally_referrals_insert AFTER INSERT ON referrals WHEN {built} BEGIN {} {SQLITE_DURATIONS} END",
            sqlite_tally("NEW", 1)
        ),
        format!(
            "CREATE TRIGGER tally_referrals_delete AFTER DELETE ON referrals WHEN {built} BEGIN {} {SQLITE_CLEAN} END",
            sqlite_tally("OLD", -1)
        ),
        format!(
            "CREATE TRIGGER tally_referrals_update AFTER UPDATE ON referrals WHEN {built} AND \
             (OLD.to_organisation_id, OLD.from_organisation_id, OLD.status, OLD.sent_at, OLD.responded_at, \
              OLD.completed_at, OLD.record_key) IS NOT \
             (NEW.to_organisation_id, NEW.from_organisation_id, NEW.status, NEW.sent_at, NEW.responded_at, \
              NEW.completed_at, NEW.record_key) \
             BEGIN {} {SQLITE_CLEAN} {} {SQLITE_DURATIONS} END",
            sqlite_tally("OLD", -1),
            sqlite_tally("NEW", 1)
        ),
    ]
}

const SQLITE_TRIGGER_NAMES: [&str; 3] = ["tally_referrals_insert", "tally_referrals_delete", "tally_referrals_update"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // The rows are filled when the tallies are next built: mark them unbuilt.
        db.execute_unprepared("UPDATE statistics_tally_state SET utc_offset_hours = NULL WHERE id = 1").await?;
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(&TABLES.replace("{uuid}", "uuid").replace("{hours}", "double precision")).await?;
                db.execute_unprepared(POSTGRES_TRIGGERS).await?;
            }
            _ => {
                let tables = TABLES.replace("{uuid}", "uuid_text").replace("{hours}", "real");
                crate::columns::sqlite_script(db, &tables, &sqlite_triggers()).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(
                "DROP TRIGGER tally_referrals_insert_delete ON referrals; \
                 DROP TRIGGER tally_referrals_update ON referrals; \
                 DROP FUNCTION psm_tally_referrals(); DROP FUNCTION psm_tally_referral(referrals, integer);",
            )
            .await?;
        } else {
            for trigger in SQLITE_TRIGGER_NAMES {
                db.execute_unprepared(&format!("DROP TRIGGER {trigger}")).await?;
            }
        }
        db.execute_unprepared("DROP TABLE referral_durations").await?;
        db.execute_unprepared("DROP TABLE referral_tallies").await?;
        Ok(())
    }
}

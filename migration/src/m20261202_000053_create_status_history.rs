//! Status history tallies: how many cases and referrals stood in each status at every past midnight of
//! the city, kept as running changes, so that `caseStats(asOf:)` and `referralStats(asOf:)` at a
//! midnight add up a few hundred thousand tally rows instead of replaying every status change of a
//! million cases.
//!
//! A case stands, at an instant T, in the status of its last status change up to T (none before its
//! first change) from its opening on; a referral in the status of its last event up to T (`SENT` before
//! any), answered once an `ACCEPTED` or `DECLINED` event happened by T, from its sending on. Each row
//! here is a change of those counts: `n` cases (referrals) entered (n > 0) or left (n < 0) a state, with
//! the sum of their record keys `key_sum`, counted at `through`, the first city midnight at or after the
//! instant of the change. The counts as of a midnight M are the sums of the rows with `through <= M`:
//! an instant is at or before M exactly when its `through` is.
//!
//! - `case_status_history`: by kelurahan, `through` and status (`-` for a case with no status yet).
//! - `referral_status_history`: by receiving and sending organisation, `through`, status and whether
//!   answered (`responded`).
//!
//! The rows are only ever added: a write adds the difference it makes (its case's or referral's history
//! after the write less the one before), and a key may hold several rows, whose sums count. Writers
//! therefore never wait for one another on a tally row (upserting shared rows in different orders
//! deadlocked concurrent referrals). The sweeper merges the rows of a key now and then
//! (`tallies::compact`). Kept by triggers in the writing transaction, like the other tallies (only
//! while `statistics_tally_state` holds an offset); this migration marks the tallies unbuilt, and the
//! server builds them all at its next start (`psm-api tallies rebuild` does the same by hand).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables, in both dialects: `{uuid}` is the UUID type, `{instant}` the instant type.
const TABLES: &str = "
CREATE TABLE case_status_history (
    kelurahan_code varchar NOT NULL,
    through {instant} NOT NULL,
    status varchar NOT NULL,
    n bigint NOT NULL,
    key_sum bigint NOT NULL
);
CREATE INDEX ix_case_status_history_through ON case_status_history (through);
CREATE TABLE referral_status_history (
    to_organisation_id {uuid} NOT NULL,
    from_organisation_id {uuid} NOT NULL,
    through {instant} NOT NULL,
    status varchar NOT NULL,
    responded integer NOT NULL,
    n bigint NOT NULL,
    key_sum bigint NOT NULL
);
CREATE INDEX ix_referral_status_history_through ON referral_status_history (through);
";

/// The SQL of the first city midnight at or after the instant `at`, in each dialect. PostgreSQL calls
/// `psm_day_ceil` (whole days of seconds from the epoch: a double holds an instant of these years to
/// well under a microsecond, the resolution of `timestamptz`, so an instant past a midnight by a
/// microsecond still counts from the next one); SQLite writes the instant in the text format the server
/// stores instants in.
fn ceil(backend: DbBackend, at: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("psm_day_ceil({at}, o)"),
        _ => {
            let offset = "(SELECT utc_offset_hours FROM statistics_tally_state WHERE id = 1)";
            let day = |shift: &str| {
                format!(
                    "strftime('%Y-%m-%dT%H:%M:%S+00:00', {at}, {offset} || ' hours', 'start of day', {shift}\
                     (-{offset}) || ' hours')"
                )
            };
            format!(
                "(CASE WHEN {at} <= {floor} THEN {floor} ELSE {next} END)",
                floor = day(""),
                next = day("'+1 day', ")
            )
        }
    }
}

/// A history: its table, the parent rows whose state it follows (columns `id`, the `keys`, the instant
/// `start` from which a parent counts, `record_key`), their changes of state (table `changes`, naming
/// the parent in `parent`, with `to_status` and the instant `at`), and the state before the first change.
struct History {
    table: &'static str,
    /// The table of the parents.
    parents: &'static str,
    keys: &'static [&'static str],
    start: &'static str,
    changes: &'static str,
    parent: &'static str,
    at: &'static str,
    initial: &'static str,
    /// Whether the history tracks an answer (referrals: once an `ACCEPTED` or `DECLINED` event happened).
    answered: bool,
}

const CASES: History = History {
    table: "case_status_history",
    parents: "cases",
    keys: &["kelurahan_code"],
    start: "opened_at",
    changes: "case_status_changes",
    parent: "case_id",
    at: "changed_at",
    initial: "-",
    answered: false,
};

const REFERRALS: History = History {
    table: "referral_status_history",
    parents: "referrals",
    keys: &["to_organisation_id", "from_organisation_id"],
    start: "sent_at",
    changes: "referral_events",
    parent: "referral_id",
    at: "occurred_at",
    initial: "SENT",
    answered: true,
};

impl History {
    /// The parents' columns as the deltas carry them.
    fn parent_columns(&self, alias: &str) -> String {
        self.keys.iter().map(|key| format!("{alias}.{key}, ")).collect::<String>() + &format!("{alias}.record_key")
    }

    /// A SELECT of the parent rows `row` (`OLD` or `NEW`) of a trigger on the parent table.
    fn row(&self, row: &str) -> String {
        let keys = self.keys.iter().map(|key| format!("{row}.{key} AS {key}, ")).collect::<String>();
        format!(
            "SELECT {row}.id AS id, {keys}{row}.{start} AS {start}, {row}.record_key AS record_key",
            start = self.start
        )
    }

    /// A SELECT of the parents with the ids `ids` (SQL of a list).
    fn parents(&self, ids: &str) -> String {
        let keys = self.keys.iter().map(|key| format!("{key}, ")).collect::<String>();
        format!("SELECT id, {keys}{}, record_key FROM {} WHERE id IN ({ids})", self.start, self.parents)
    }

    /// The change rows as a write of one row leaves them: without the row `OLD`, with the row `NEW`.
    fn changes_after(&self, without_old: bool, with_new: bool) -> String {
        let columns = format!("id, {}, to_status, {}", self.parent, self.at);
        let kept = if without_old {
            format!("SELECT {columns} FROM {} WHERE id <> OLD.id", self.changes)
        } else {
            format!("SELECT {columns} FROM {}", self.changes)
        };
        let added = if with_new {
            format!(" UNION ALL SELECT NEW.id, NEW.{}, NEW.to_status, NEW.{}", self.parent, self.at)
        } else {
            String::new()
        };
        format!("({kept}{added})")
    }

    /// The deltas of the history of the parents `parents` (a SELECT) over the changes `changes` (a table
    /// expression): rows of the parent columns, `through`, `status`, `responded` (referrals) and `n`.
    /// Each change holds from its instant (or the parent's start, if later) to the next change's; before
    /// the first change, or without any, the parent stands in the initial state from its start.
    /// Written without WITH (SQLite's triggers refuse it) and LATERAL (SQLite has none).
    fn deltas(&self, backend: DbBackend, parents: &str, changes: &str) -> String {
        let History { start, parent, at, initial, .. } = self;
        let carried = self.parent_columns("hx");
        let (answer, answered, initial_answer) = if self.answered {
            (
                "hx.answered, ",
                format!(
                    ", MAX(CASE WHEN x.to_status IN ('ACCEPTED', 'DECLINED') THEN 1 ELSE 0 END) \
                     OVER (PARTITION BY hp.id ORDER BY x.{at}, x.id) AS answered"
                ),
                "0, ",
            )
        } else {
            ("", String::new(), "")
        };
        let spans = format!(
            "SELECT {carried}, hx.status, {answer}\
                    CASE WHEN hx.at > hx.start THEN hx.at ELSE hx.start END AS since, \
                    CASE WHEN hx.next_at IS NULL THEN NULL WHEN hx.next_at > hx.start THEN hx.next_at \
                         ELSE hx.start END AS until \
             FROM (SELECT {parent_columns}, x.to_status AS status, x.{at} AS at, hp.{start} AS start, \
                          LEAD(x.{at}) OVER (PARTITION BY hp.id ORDER BY x.{at}, x.id) AS next_at{answered} \
                   FROM ({parents}) AS hp JOIN {changes} x ON x.{parent} = hp.id) AS hx \
             UNION ALL \
             SELECT {initial_columns}, '{initial}', {initial_answer}hp.{start}, \
                    (SELECT CASE WHEN MIN(x.{at}) IS NULL THEN NULL WHEN MIN(x.{at}) > hp.{start} \
                                 THEN MIN(x.{at}) ELSE hp.{start} END \
                     FROM {changes} x WHERE x.{parent} = hp.id) \
             FROM ({parents}) AS hp",
            parent_columns = self.parent_columns("hp"),
            initial_columns = self.parent_columns("hp"),
        );
        let responded = if self.answered { "hs.answered AS responded, " } else { "" };
        let carried = self.parent_columns("hs");
        format!(
            "SELECT {carried}, {since} AS through, hs.status, {responded}1 AS n FROM ({spans}) AS hs \
             UNION ALL SELECT {carried}, {until}, hs.status, {responded}-1 FROM ({spans}) AS hs \
             WHERE hs.until IS NOT NULL",
            since = ceil(backend, "hs.since"),
            until = ceil(backend, "hs.until"),
        )
    }

    /// The statement that adds what a write changed: for each `(parents, changes, sign)`, the deltas of
    /// those parents over those changes, taken with that sign, summed by key (the parts before the
    /// write with -1, after it with 1).
    fn record(&self, backend: DbBackend, parts: &[(String, String, i32)]) -> String {
        let responded = if self.answered { ", responded" } else { "" };
        let keys = self.keys.iter().map(|key| format!("{key}, ")).collect::<String>();
        let grouped = format!("{keys}through, status{responded}");
        let parts = parts
            .iter()
            .map(|(parents, changes, sign)| {
                format!(
                    "SELECT {grouped}, record_key, {sign} * n AS n FROM ({}) AS hd",
                    self.deltas(backend, parents, changes)
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        format!(
            "INSERT INTO {table} ({keys}through, status{responded}, n, key_sum) \
             SELECT {grouped}, SUM(n), SUM(n * record_key) FROM ({parts}) AS hw WHERE true \
             GROUP BY {grouped} HAVING NOT (SUM(n) = 0 AND SUM(n * record_key) = 0);",
            table = self.table,
        )
    }

    /// What each trigger of the parent table does, by operation: the parent taken away with its values
    /// before the write, added with its values after.
    fn parent_insert(&self, backend: DbBackend) -> String {
        self.record(backend, &[(self.row("NEW"), self.changes.to_owned(), 1)])
    }

    fn parent_delete(&self, backend: DbBackend) -> String {
        self.record(backend, &[(self.row("OLD"), self.changes.to_owned(), -1)])
    }

    fn parent_update(&self, backend: DbBackend) -> String {
        self.record(
            backend,
            &[(self.row("OLD"), self.changes.to_owned(), -1), (self.row("NEW"), self.changes.to_owned(), 1)],
        )
    }

    /// What each trigger of the change table does, before the row is written: its parent (both
    /// parents, for an update moving the row) taken away over the changes as they are, added over the
    /// changes as the write leaves them.
    fn change_insert(&self, backend: DbBackend) -> String {
        let parents = self.parents(&format!("NEW.{}", self.parent));
        self.record(
            backend,
            &[(parents.clone(), self.changes.to_owned(), -1), (parents, self.changes_after(false, true), 1)],
        )
    }

    fn change_delete(&self, backend: DbBackend) -> String {
        let parents = self.parents(&format!("OLD.{}", self.parent));
        self.record(
            backend,
            &[(parents.clone(), self.changes.to_owned(), -1), (parents, self.changes_after(true, false), 1)],
        )
    }

    fn change_update(&self, backend: DbBackend) -> String {
        let parents = self.parents(&format!("OLD.{parent}, NEW.{parent}", parent = self.parent));
        self.record(
            backend,
            &[(parents.clone(), self.changes.to_owned(), -1), (parents, self.changes_after(true, true), 1)],
        )
    }

    /// The columns whose change moves a parent's history (besides its changes).
    fn parent_columns_watched(&self) -> String {
        let keys = self.keys.iter().map(|key| format!("{key}, ")).collect::<String>();
        format!("id, {keys}{}, record_key", self.start)
    }

    fn change_columns_watched(&self) -> String {
        format!("id, {}, to_status, {}", self.parent, self.at)
    }

    /// The short name of triggers and functions: `cases` or `referrals`.
    fn name(&self) -> &'static str {
        self.parents
    }
}

/// `(a, b)` of `row`: the watched columns of a row, for a trigger's WHEN.
fn tuple(row: &str, columns: &str) -> String {
    let listed = columns.split(", ").map(|column| format!("{row}.{column}")).collect::<Vec<_>>().join(", ");
    format!("({listed})")
}

/// PostgreSQL: two trigger functions per history, one for the parent table (AFTER: the changes stand
/// still meanwhile) and one for the change table (BEFORE each row: AFTER row triggers run once the whole
/// statement is done, so two rows of one parent written by one statement would both see its end state).
fn postgres_functions() -> String {
    let backend = DbBackend::Postgres;
    let mut sql = String::from(
        "CREATE FUNCTION psm_day_ceil(at timestamptz, o integer) RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT to_timestamp(ceil((date_part('epoch', at) + o * 3600) / 86400) * 86400 - o * 3600)
$$;
",
    );
    for history in [CASES, REFERRALS] {
        let name = history.name();
        let (parents, changes) = (history.parents, history.changes);
        sql.push_str(&format!(
            r#"
CREATE FUNCTION psm_history_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE o integer;
BEGIN
    SELECT utc_offset_hours INTO o FROM statistics_tally_state WHERE id = 1;
    IF o IS NULL THEN RETURN NULL; END IF;
    IF TG_OP = 'INSERT' THEN
        {insert}
    ELSIF TG_OP = 'DELETE' THEN
        {delete}
    ELSE
        {update}
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION psm_history_{name}_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE o integer;
BEGIN
    SELECT utc_offset_hours INTO o FROM statistics_tally_state WHERE id = 1;
    IF o IS NOT NULL THEN
        IF TG_OP = 'INSERT' THEN
            {change_insert}
        ELSIF TG_OP = 'DELETE' THEN
            {change_delete}
        ELSE
            {change_update}
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER history_{name}_insert_delete AFTER INSERT OR DELETE ON {parents}
    FOR EACH ROW EXECUTE FUNCTION psm_history_{name}();
CREATE TRIGGER history_{name}_update AFTER UPDATE ON {parents} FOR EACH ROW
    WHEN ({old_parent} IS DISTINCT FROM {new_parent})
    EXECUTE FUNCTION psm_history_{name}();
CREATE TRIGGER history_{name}_changes_insert_delete BEFORE INSERT OR DELETE ON {changes}
    FOR EACH ROW EXECUTE FUNCTION psm_history_{name}_changes();
CREATE TRIGGER history_{name}_changes_update BEFORE UPDATE ON {changes} FOR EACH ROW
    WHEN ({old_change} IS DISTINCT FROM {new_change})
    EXECUTE FUNCTION psm_history_{name}_changes();
"#,
            insert = history.parent_insert(backend),
            delete = history.parent_delete(backend),
            update = history.parent_update(backend),
            change_insert = history.change_insert(backend),
            change_delete = history.change_delete(backend),
            change_update = history.change_update(backend),
            old_parent = tuple("OLD", &history.parent_columns_watched()),
            new_parent = tuple("NEW", &history.parent_columns_watched()),
            old_change = tuple("OLD", &history.change_columns_watched()),
            new_change = tuple("NEW", &history.change_columns_watched()),
        ));
    }
    sql
}

const SQLITE_BUILT: &str = "(SELECT utc_offset_hours FROM statistics_tally_state WHERE id = 1) IS NOT NULL";

/// SQLite: triggers cannot call functions, so each holds its statement. The change tables' triggers run
/// before each row is written, like PostgreSQL's.
fn sqlite_triggers() -> Vec<String> {
    let backend = DbBackend::Sqlite;
    let built = SQLITE_BUILT;
    let mut triggers = Vec::new();
    for history in [CASES, REFERRALS] {
        let name = history.name();
        let (parents, changes) = (history.parents, history.changes);
        let moved = format!(
            "{} IS NOT {}",
            tuple("OLD", &history.parent_columns_watched()),
            tuple("NEW", &history.parent_columns_watched())
        );
        let changed = format!(
            "{} IS NOT {}",
            tuple("OLD", &history.change_columns_watched()),
            tuple("NEW", &history.change_columns_watched())
        );
        triggers.extend([
            format!(
                "CREATE TRIGGER history_{name}_insert AFTER INSERT ON {parents} WHEN {built} BEGIN {} END",
                history.parent_insert(backend)
            ),
            format!(
                "CREATE TRIGGER history_{name}_delete AFTER DELETE ON {parents} WHEN {built} BEGIN {} END",
                history.parent_delete(backend)
            ),
            format!(
                "CREATE TRIGGER history_{name}_update AFTER UPDATE ON {parents} WHEN {built} AND {moved} BEGIN {} END",
                history.parent_update(backend)
            ),
            format!(
                "CREATE TRIGGER history_{name}_changes_insert BEFORE INSERT ON {changes} WHEN {built} BEGIN {} END",
                history.change_insert(backend)
            ),
            format!(
                "CREATE TRIGGER history_{name}_changes_delete BEFORE DELETE ON {changes} WHEN {built} BEGIN {} END",
                history.change_delete(backend)
            ),
            format!(
                "CREATE TRIGGER history_{name}_changes_update BEFORE UPDATE ON {changes} WHEN {built} AND {changed} \
                 BEGIN {} END",
                history.change_update(backend)
            ),
        ]);
    }
    triggers
}

/// The names of the triggers [`sqlite_triggers`] creates, for `down`.
fn sqlite_trigger_names() -> Vec<String> {
    sqlite_triggers()
        .iter()
        .filter_map(|trigger| trigger.strip_prefix("CREATE TRIGGER ")?.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // The rows are filled when the tallies are next built: mark them unbuilt.
        db.execute_unprepared("UPDATE statistics_tally_state SET utc_offset_hours = NULL WHERE id = 1").await?;
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(&TABLES.replace("{uuid}", "uuid").replace("{instant}", "timestamptz")).await?;
                db.execute_unprepared(&postgres_functions()).await?;
            }
            _ => {
                let tables = TABLES.replace("{uuid}", "uuid_text").replace("{instant}", "text");
                crate::columns::sqlite_script(db, &tables, &sqlite_triggers()).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            for history in [CASES, REFERRALS] {
                let (name, parents, changes) = (history.name(), history.parents, history.changes);
                db.execute_unprepared(&format!(
                    "DROP TRIGGER history_{name}_insert_delete ON {parents}; \
                     DROP TRIGGER history_{name}_update ON {parents}; \
                     DROP TRIGGER history_{name}_changes_insert_delete ON {changes}; \
                     DROP TRIGGER history_{name}_changes_update ON {changes}; \
                     DROP FUNCTION psm_history_{name}(); DROP FUNCTION psm_history_{name}_changes();"
                ))
                .await?;
            }
            db.execute_unprepared("DROP FUNCTION psm_day_ceil(timestamptz, integer)").await?;
        } else {
            for trigger in sqlite_trigger_names() {
                db.execute_unprepared(&format!("DROP TRIGGER {trigger}")).await?;
            }
        }
        db.execute_unprepared("DROP TABLE referral_status_history").await?;
        db.execute_unprepared("DROP TABLE case_status_history").await?;
        Ok(())
    }
}

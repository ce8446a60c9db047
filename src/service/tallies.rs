//! Statistics tallies: case counts pre-aggregated by kelurahan, status, urgency, source, opening day and
//! category, kept exact by database triggers inside every writing transaction (the migration
//! `create_statistics_tallies` holds them). The statistics engine reads a tally instead of the cases when
//! one holds every dimension a request groups or filters by; otherwise it counts the cases.
//!
//! The closures ([`CLOSURES`], migration `create_case_closures`) hold the days to close of every closed
//! case, once for all cases and once per category, in index order: medians and percentiles of days to
//! close are read from them by rank (see [`Ranked`](crate::service::statistics::Ranked)).
//!
//! The referral tally ([`REFERRALS`], migration `create_referral_tallies`) holds the referral funnel
//! by receiving and sending organisation, status and whether answered; the referral durations
//! ([`REFERRAL_DURATIONS`]) the hours to answer and to complete of every referral, read by rank like the
//! closures.
//!
//! The status histories ([`CaseTally::History`], [`REFERRAL_HISTORY`], migration
//! `create_status_history`) hold the changes of the case and referral counts by state and by the city
//! midnight from which they count: cases and referrals as they stood at a past midnight are their sums
//! ([`case_history_as_of`], [`referral_history_as_of`]). Writes only add rows; [`compact`] merges the
//! keys that gained rows since it last ran (migration `mark_merged_history`).
//!
//! A tally row holds a count and the sum of its cases' record keys, so figures perturbed from a tally
//! are the figures perturbed from the cases. The day tally depends on the city's offset from UTC: the
//! tallies record the offset they were built for, and [`ensure`] (run at every start) rebuilds them
//! when it differs from the configured one, or when they were never built.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, Statement, TransactionTrait,
};

/// A tally of cases the statistics can read instead of the cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseTally {
    /// Cases by kelurahan, status, urgency and source.
    Cases,
    /// Cases by opening day (the city's midnight starting it), kelurahan and status.
    Days,
    /// Case categories by kelurahan, status and category.
    Categories,
    /// Changes of the case counts by kelurahan, status and the midnight from which they count: cases as
    /// they stood at a past midnight (see [`case_history_as_of`]).
    History,
}

/// What a statistics request needs of a tally, besides kelurahan and status (which every tally has).
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    /// Opening instants: a time dimension, a period, or a filter on `opened`, all at whole days.
    pub opening_day: bool,
    /// The category of each case (grouping by category).
    pub category: bool,
    /// Urgency or source (grouping or filtering by them).
    pub urgency_or_source: bool,
}

impl CaseTally {
    /// The smallest tally holding everything `needs` asks for, if one does.
    pub fn for_needs(needs: Needs) -> Option<CaseTally> {
        match (needs.opening_day, needs.category, needs.urgency_or_source) {
            (false, false, _) => Some(CaseTally::Cases),
            (true, false, false) => Some(CaseTally::Days),
            (false, true, false) => Some(CaseTally::Categories),
            _ => None,
        }
    }

    /// The tally's table.
    pub fn table(self) -> &'static str {
        match self {
            CaseTally::Cases => "case_tallies",
            CaseTally::Days => "case_day_tallies",
            CaseTally::Categories => "case_category_tallies",
            CaseTally::History => "case_status_history",
        }
    }
}

/// Builds the tallies when they were never built or were built for another offset; returns whether it
/// rebuilt them. Run at start, after the migrations.
///
/// Replicas starting together after a migration build them once: on PostgreSQL the rebuild first locks
/// the state row, so a second replica waits for the first and then finds the tallies built.
pub async fn ensure(db: &DatabaseConnection, utc_offset_hours: i32) -> Result<bool, DbErr> {
    if built_for(db).await? == Some(utc_offset_hours) {
        return Ok(false);
    }
    build(db, utc_offset_hours, true).await
}

/// Whether the statistics may read the tallies now: built, and for the city offset in use. While a
/// bulk load has them suspended, or they were built for another offset, the cases answer.
pub async fn readable(db: &impl ConnectionTrait, offset: chrono::FixedOffset) -> Result<bool, DbErr> {
    Ok(built_for(db).await? == Some(offset.local_minus_utc() / 3600))
}

/// The offset the tallies were built for; `None` while they were never built.
pub async fn built_for(db: &impl ConnectionTrait) -> Result<Option<i32>, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT utc_offset_hours FROM statistics_tally_state WHERE id = 1",
        ))
        .await?;
    match row {
        Some(row) => row.try_get::<Option<i32>>("", "utc_offset_hours"),
        None => Ok(None),
    }
}

/// Recomputes every tally from the cases, in one transaction that holds writers of cases off (on
/// PostgreSQL) until it commits, and records the offset the day tally was built for.
pub async fn rebuild(db: &DatabaseConnection, utc_offset_hours: i32) -> Result<(), DbErr> {
    build(db, utc_offset_hours, false).await.map(|_| ())
}

/// Rebuilds the tallies, or with `unless_built` only if, once the state row is locked, they are not
/// built for `utc_offset_hours` (another server may have built them meanwhile); returns whether it did.
async fn build(db: &DatabaseConnection, utc_offset_hours: i32, unless_built: bool) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let txn = db.begin().await?;
    if backend == DatabaseBackend::Postgres {
        let state = "SELECT utc_offset_hours FROM statistics_tally_state WHERE id = 1 FOR UPDATE";
        let row = txn.query_one_raw(Statement::from_string(backend, state)).await?;
        let built = row.map(|row| row.try_get::<Option<i32>>("", "utc_offset_hours")).transpose()?.flatten();
        if unless_built && built == Some(utc_offset_hours) {
            txn.commit().await?;
            return Ok(false);
        }
        txn.execute_unprepared(SOURCES_LOCK).await?;
    }
    // Stop the triggers while the tallies are emptied and refilled (this transaction sees only itself).
    txn.execute_unprepared("UPDATE statistics_tally_state SET utc_offset_hours = NULL WHERE id = 1").await?;
    let counts = async {
        for table in [CaseTally::Cases, CaseTally::Days, CaseTally::Categories] {
            txn.execute_unprepared(&format!("DELETE FROM {}", table.table())).await?;
            let rows = grouped(table, backend, utc_offset_hours);
            txn.execute_unprepared(&format!("INSERT INTO {} {rows}", table.table())).await?;
        }
        txn.execute_unprepared(&format!("DELETE FROM {REFERRALS}")).await?;
        txn.execute_unprepared(&format!("INSERT INTO {REFERRALS} {}", referral_tally())).await?;
        refill_ranked(&txn, backend, CLOSURES, "case_id, grp, days", &closures(backend)).await?;
        refill_ranked(&txn, backend, REFERRAL_DURATIONS, "referral_id, grp, hours", &referral_durations(backend)).await
    };
    if backend == DatabaseBackend::Postgres {
        // The status histories, the longest to compute, meanwhile in a second transaction, on the other
        // core (`psm-api tallies rebuild` at a million cases: 14 s, against 22 s one after the other).
        // It locks the same tables first, so that no writer slips between the two; the state row,
        // locked by the first, keeps a second server from building at the same time.
        let histories = async {
            let apart = db.begin().await?;
            apart.execute_unprepared(SOURCES_LOCK).await?;
            refill_histories(&apart, backend, utc_offset_hours).await?;
            apart.commit().await
        };
        tokio::try_join!(counts, histories)?;
    } else {
        counts.await?;
        refill_histories(&txn, backend, utc_offset_hours).await?;
    }
    txn.execute_unprepared(&format!(
        "UPDATE statistics_tally_state SET utc_offset_hours = {utc_offset_hours} WHERE id = 1"
    ))
    .await?;
    txn.commit().await?;
    if backend == DatabaseBackend::Postgres {
        // Medians read by rank step over index entries: from an index alone only once the visibility
        // map says the pages are all visible (at a million cases, 1.85 s for the closure query against
        // 73 ms). Autovacuum would get there in its own time; the first dashboard should not wait for it.
        db.execute_unprepared(&format!("VACUUM (ANALYZE) {CLOSURES}, {REFERRAL_DURATIONS}")).await?;
    }
    Ok(true)
}

/// The tables the tallies are computed from, locked against writers while they are rebuilt.
const SOURCES_LOCK: &str =
    "LOCK TABLE cases, case_categories, case_status_changes, referrals, referral_events IN SHARE MODE";

/// Empties and refills the status histories from the changes. On PostgreSQL they group millions of
/// changes into a few hundred thousand rows: in memory, not spilled to disk in batches (a third of
/// their time at a million cases).
async fn refill_histories(txn: &DatabaseTransaction, backend: DatabaseBackend, hours: i32) -> Result<(), DbErr> {
    if backend == DatabaseBackend::Postgres {
        txn.execute_unprepared("SET LOCAL work_mem = '256MB'").await?;
    }
    // Written merged: compaction has nothing to do on a rebuilt history.
    let merged =
        |columns: &str, rows: String| (format!("{columns}, merged"), format!("SELECT r.*, true FROM ({rows}) r"));
    let history = CaseTally::History;
    let (columns, rows) = merged(columns(history), grouped(history, backend, hours));
    refill_ranked(txn, backend, history.table(), &columns, &rows).await?;
    let (columns, rows) = merged(REFERRAL_HISTORY_COLUMNS, referral_history(backend, hours));
    refill_ranked(txn, backend, REFERRAL_HISTORY, &columns, &rows).await
}

/// Empties and refills a large tally (`table`, with `columns` filled by `rows`): the durations read by
/// rank and the status histories. On PostgreSQL the table's indexes are dropped first and built again
/// over the full table (the closures of a million cases: 9 s, against 15 to 23 s inserting through
/// them); readers wait for the rebuild to commit instead of reading a half-built table.
async fn refill_ranked(
    txn: &DatabaseTransaction,
    backend: DatabaseBackend,
    table: &str,
    columns: &str,
    rows: &str,
) -> Result<(), DbErr> {
    let fill = format!("INSERT INTO {table} ({columns}) {rows}");
    if backend != DatabaseBackend::Postgres {
        txn.execute_unprepared(&format!("DELETE FROM {table}")).await?;
        return txn.execute_unprepared(&fill).await.map(|_| ());
    }
    // The primary key is a constraint (dropped and added as one), the other indexes plain definitions.
    let definitions = txn
        .query_all_raw(Statement::from_string(
            backend,
            format!(
                "SELECT 'ALTER TABLE {table} DROP CONSTRAINT ' || quote_ident(c.conname) AS dropping, \
                        'ALTER TABLE {table} ADD CONSTRAINT ' || quote_ident(c.conname) || ' ' \
                          || pg_get_constraintdef(c.oid) AS building \
                 FROM pg_constraint c WHERE c.conrelid = '{table}'::regclass AND c.contype = 'p' \
                 UNION ALL \
                 SELECT 'DROP INDEX ' || quote_ident(i.indexname), i.indexdef FROM pg_indexes i \
                 WHERE i.schemaname = current_schema() AND i.tablename = '{table}' \
                   AND i.indexname <> '{table}_pkey'"
            ),
        ))
        .await?
        .into_iter()
        .map(|row| Ok((row.try_get::<String>("", "dropping")?, row.try_get::<String>("", "building")?)))
        .collect::<Result<Vec<_>, DbErr>>()?;
    txn.execute_unprepared(&format!("TRUNCATE {table}")).await?;
    for (dropping, _) in &definitions {
        txn.execute_unprepared(dropping).await?;
    }
    txn.execute_unprepared(&fill).await?;
    txn.execute_unprepared("SET LOCAL maintenance_work_mem = '256MB'").await?;
    for (_, building) in &definitions {
        txn.execute_unprepared(building).await?;
    }
    Ok(())
}

/// The tally triggers of PostgreSQL (SQLite's do nothing while the state holds no offset).
const POSTGRES_TRIGGERS: &[(&str, &str)] = &[
    ("cases", "tally_cases_insert_delete"),
    ("cases", "tally_cases_update"),
    ("case_categories", "tally_case_categories"),
    ("cases", "close_cases_insert_delete"),
    ("cases", "close_cases_update"),
    ("case_categories", "close_case_categories"),
    ("referrals", "tally_referrals_insert_delete"),
    ("referrals", "tally_referrals_update"),
    ("cases", "history_cases_insert_delete"),
    ("cases", "history_cases_update"),
    ("case_status_changes", "history_cases_changes_insert_delete"),
    ("case_status_changes", "history_cases_changes_update"),
    ("referrals", "history_referrals_insert_delete"),
    ("referrals", "history_referrals_update"),
    ("referral_events", "history_referrals_changes_insert_delete"),
    ("referral_events", "history_referrals_changes_update"),
];

/// Stops keeping the tallies for a bulk load, and returns the offset they were built for (to give to
/// [`resume`]). Nobody reads them meanwhile (the state holds no offset), and on PostgreSQL the
/// triggers are disabled, so that loading a million cases does not call a trigger for every row.
pub async fn suspend(db: &DatabaseConnection) -> Result<Option<i32>, DbErr> {
    let built = built_for(db).await?;
    let txn = db.begin().await?;
    txn.execute_unprepared("UPDATE statistics_tally_state SET utc_offset_hours = NULL WHERE id = 1").await?;
    if db.get_database_backend() == DatabaseBackend::Postgres {
        for (table, trigger) in POSTGRES_TRIGGERS {
            txn.execute_unprepared(&format!("ALTER TABLE {table} DISABLE TRIGGER {trigger}")).await?;
        }
    }
    txn.commit().await?;
    Ok(built)
}

/// Keeps the tallies again after [`suspend`]: enables the triggers and, if the tallies were built
/// before, rebuilds them for the same offset (otherwise the next start builds them).
pub async fn resume(db: &DatabaseConnection, built: Option<i32>) -> Result<(), DbErr> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        for (table, trigger) in POSTGRES_TRIGGERS {
            db.execute_unprepared(&format!("ALTER TABLE {table} ENABLE TRIGGER {trigger}")).await?;
        }
    }
    match built {
        Some(offset) => rebuild(db, offset).await,
        None => Ok(()),
    }
}

/// The rows of each tally that differ from the cases (both ways), by table: all zeros when the tallies
/// are exact. Tallies never built count as differing wherever there are cases.
pub async fn check(db: &impl ConnectionTrait) -> Result<Vec<(&'static str, i64)>, DbErr> {
    let backend = db.get_database_backend();
    let offset = built_for(db).await?.unwrap_or(0);
    let mut differences = Vec::new();
    let tallies = [CaseTally::Cases, CaseTally::Days, CaseTally::Categories, CaseTally::History]
        .map(|table| (table.table(), columns(table), grouped(table, backend, offset)));
    let ranked = [
        (REFERRAL_HISTORY, REFERRAL_HISTORY_COLUMNS, referral_history(backend, offset)),
        (CLOSURES, "case_id, grp, days", closures(backend)),
        (REFERRALS, REFERRAL_COLUMNS, referral_tally()),
        (REFERRAL_DURATIONS, "referral_id, grp, hours", referral_durations(backend)),
    ];
    for (name, columns, grouped) in tallies.into_iter().chain(ranked) {
        let stored = stored(name, columns);
        let sql = format!(
            "SELECT COUNT(*) AS differing FROM (\
               SELECT * FROM (SELECT * FROM ({stored}) AS s EXCEPT SELECT * FROM ({grouped}) AS g) AS a \
               UNION ALL \
               SELECT * FROM (SELECT * FROM ({grouped}) AS g EXCEPT SELECT * FROM ({stored}) AS s) AS b\
             ) AS d"
        );
        let row = db.query_one_raw(Statement::from_string(backend, sql)).await?;
        let differing = match row {
            Some(row) => row.try_get::<i64>("", "differing")?,
            None => 0,
        };
        differences.push((name, differing));
    }
    Ok(differences)
}

/// The rows of the tally `table` (its `columns`), as [`check`] compares them: a status history holds
/// several rows per key between compactions, whose sums count.
fn stored(table: &str, columns: &str) -> String {
    if !HISTORIES.contains(&table) {
        return format!("SELECT {columns} FROM {table}");
    }
    let keys = columns.trim_end_matches(", n, key_sum");
    format!(
        "SELECT {keys}, CAST(SUM(n) AS BIGINT), CAST(SUM(key_sum) AS BIGINT) FROM {table} GROUP BY {keys} \
         HAVING NOT (SUM(n) = 0 AND SUM(key_sum) = 0)"
    )
}

/// The status histories, whose rows are only ever added (migration `create_status_history`).
const HISTORIES: [&str; 2] = ["case_status_history", REFERRAL_HISTORY];

/// Merges the rows of each key of the status histories that gained rows since the last compaction into
/// one, marked `merged` (dropping keys that sum to nothing): every write adds rows, and the statistics
/// add up all of a midnight's. Run by the sweeper. Only keys with an unmerged row are read, through the
/// partial index of migration `mark_merged_history`, so a compaction with nothing to merge costs an
/// index probe. The sums stay exact while writers add rows meanwhile, and when replicas compact at
/// once: on PostgreSQL each statement takes away only the rows it deletes, and adds back their sums;
/// SQLite has one writer.
pub async fn compact(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let mut merged = 0;
    for (table, columns) in
        [(CaseTally::History.table(), columns(CaseTally::History)), (REFERRAL_HISTORY, REFERRAL_HISTORY_COLUMNS)]
    {
        let keys = columns.trim_end_matches(", n, key_sum");
        let fresh = format!("SELECT DISTINCT {keys} FROM {table} WHERE NOT merged");
        let sums = "SUM(n), SUM(key_sum)";
        let kept = "HAVING NOT (SUM(n) = 0 AND SUM(key_sum) = 0)";
        if backend == DatabaseBackend::Postgres {
            let done = db
                .execute_unprepared(&format!(
                    "WITH gone AS (DELETE FROM {table} WHERE ({keys}) IN ({fresh}) RETURNING *) \
                     INSERT INTO {table} ({columns}, merged) SELECT {keys}, {sums}, true FROM gone GROUP BY {keys} {kept}"
                ))
                .await?;
            merged += done.rows_affected();
            continue;
        }
        let txn = db.begin().await?;
        txn.execute_unprepared(&format!(
            "CREATE TEMP TABLE merged_history AS SELECT {keys}, {sums} FROM {table} WHERE ({keys}) IN ({fresh}) \
             GROUP BY {keys} {kept}"
        ))
        .await?;
        txn.execute_unprepared(&format!("DELETE FROM {table} WHERE ({keys}) IN ({fresh})")).await?;
        let done = txn
            .execute_unprepared(&format!("INSERT INTO {table} ({columns}, merged) SELECT *, true FROM merged_history"))
            .await?;
        txn.execute_unprepared("DROP TABLE merged_history").await?;
        txn.commit().await?;
        merged += done.rows_affected();
    }
    Ok(merged)
}

/// The closure durations: one row per closed case (group `*`) and per closed case and category, with
/// the days from opening to closing, computed as the statistics compute them from the cases.
pub const CLOSURES: &str = "case_closures";

/// The group of [`CLOSURES`] that holds every closed case once.
pub const EVERY_CLOSURE: &str = "*";

/// The rows of [`CLOSURES`] computed from the cases, as a SELECT of its columns in table order.
fn closures(backend: DatabaseBackend) -> String {
    let days = if backend == DatabaseBackend::Postgres {
        "CAST(EXTRACT(EPOCH FROM (c.closed_at - c.opened_at)) / 86400.0 AS double precision)"
    } else {
        "julianday(c.closed_at) - julianday(c.opened_at)"
    };
    format!(
        "SELECT c.id, '{EVERY_CLOSURE}', {days} FROM cases c WHERE c.status = 'CLOSED' \
         UNION ALL SELECT c.id, cc.category, {days} FROM cases c JOIN case_categories cc ON cc.case_id = c.id \
         WHERE c.status = 'CLOSED'"
    )
}

/// The referral funnel: referrals by receiving and sending organisation, status and whether answered
/// (migration `create_referral_tallies`).
pub const REFERRALS: &str = "referral_tallies";

/// Columns of [`REFERRALS`] in the order [`referral_tally`] selects them.
const REFERRAL_COLUMNS: &str = "to_organisation_id, from_organisation_id, status, responded, n, key_sum";

/// The hours to answer (groups `respond:*` and `respond:<receiving organisation>`) and to complete
/// (`complete:…`) of the referrals, read by rank like the closures.
pub const REFERRAL_DURATIONS: &str = "referral_durations";

/// The group prefix of the hours to answer in [`REFERRAL_DURATIONS`].
pub const RESPONDED: &str = "respond:";

/// The group prefix of the hours to complete in [`REFERRAL_DURATIONS`].
pub const COMPLETED: &str = "complete:";

/// The rows of [`REFERRALS`] computed from the referrals.
fn referral_tally() -> String {
    "SELECT r.to_organisation_id, r.from_organisation_id, r.status, \
            CASE WHEN r.responded_at IS NULL THEN 0 ELSE 1 END, COUNT(*), CAST(SUM(r.record_key) AS BIGINT) \
     FROM referrals r GROUP BY r.to_organisation_id, r.from_organisation_id, r.status, \
            CASE WHEN r.responded_at IS NULL THEN 0 ELSE 1 END"
        .to_owned()
}

/// The rows of [`REFERRAL_DURATIONS`] computed from the referrals, with the hours the statistics compute
/// and the organisation written as they write a UUID key.
fn referral_durations(backend: DatabaseBackend) -> String {
    let (hours, organisation): (fn(&str) -> String, &str) = if backend == DatabaseBackend::Postgres {
        (
            |to| format!("CAST(((EXTRACT(EPOCH FROM (r.{to} - r.sent_at)) / 86400.0) * 24.0) AS double precision)"),
            "CAST(r.to_organisation_id AS TEXT)",
        )
    } else {
        (|to| format!("((julianday(r.{to}) - julianday(r.sent_at)) * 24.0)"), "lower(hex(r.to_organisation_id))")
    };
    [(RESPONDED, "responded_at", "r.responded_at IS NOT NULL"), (COMPLETED, "completed_at", "r.status = 'COMPLETED'")]
        .iter()
        .flat_map(|(kind, to, when)| {
            let hours = hours(to);
            [
                format!("SELECT r.id, '{kind}{EVERY_CLOSURE}', {hours} FROM referrals r WHERE {when}"),
                format!("SELECT r.id, '{kind}' || {organisation}, {hours} FROM referrals r WHERE {when}"),
            ]
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// The columns of a tally, in the order [`grouped`] selects them.
fn columns(table: CaseTally) -> &'static str {
    match table {
        CaseTally::Cases => "kelurahan_code, status, urgency, source, n, key_sum",
        CaseTally::Days => "opened_at, kelurahan_code, status, n, key_sum",
        CaseTally::Categories => "kelurahan_code, status, category, n, key_sum",
        CaseTally::History => "kelurahan_code, through, status, n, key_sum",
    }
}

/// The tally computed from the cases, as a SELECT of its columns in table order.
fn grouped(table: CaseTally, backend: DatabaseBackend, utc_offset_hours: i32) -> String {
    let sums = "COUNT(*), CAST(SUM(c.record_key) AS BIGINT)";
    match table {
        CaseTally::Cases => format!(
            "SELECT c.kelurahan_code, c.status, c.urgency, c.source, {sums} FROM cases c \
             GROUP BY c.kelurahan_code, c.status, c.urgency, c.source"
        ),
        CaseTally::Days => {
            let day = opening_day(backend, utc_offset_hours);
            format!(
                "SELECT {day}, c.kelurahan_code, c.status, {sums} FROM cases c GROUP BY {day}, c.kelurahan_code, c.status"
            )
        }
        CaseTally::Categories => format!(
            "SELECT c.kelurahan_code, c.status, cc.category, {sums} FROM cases c \
             JOIN case_categories cc ON cc.case_id = c.id GROUP BY c.kelurahan_code, c.status, cc.category"
        ),
        CaseTally::History => case_history(backend, utc_offset_hours),
    }
}

/// SQL of the city's midnight starting the day a case (`c`) was opened, as an instant stored the way
/// the server stores instants (the triggers compute the same).
fn opening_day(backend: DatabaseBackend, hours: i32) -> String {
    if backend == DatabaseBackend::Postgres {
        format!(
            "(date_trunc('day', c.opened_at AT TIME ZONE make_interval(hours => {hours})) \
             AT TIME ZONE make_interval(hours => {hours}))"
        )
    } else {
        format!("strftime('%Y-%m-%dT%H:%M:%S+00:00', c.opened_at, '{hours} hours', 'start of day', '{} hours')", -hours)
    }
}

/// The changes of the referral counts by receiving and sending organisation, status, whether answered
/// and the midnight from which they count (migration `create_status_history`): referrals as they stood
/// at a past midnight (see [`referral_history_as_of`]).
pub const REFERRAL_HISTORY: &str = "referral_status_history";

/// Columns of [`REFERRAL_HISTORY`] in the order [`referral_history`] selects them.
const REFERRAL_HISTORY_COLUMNS: &str =
    "to_organisation_id, from_organisation_id, through, status, responded, n, key_sum";

/// The status a case stands in, in [`CaseTally::History`], before its first status change.
const NO_STATUS: &str = "-";

/// A history row's midnight, in two steps: `key` groups the instants by the first city midnight at or
/// after them (a day number on PostgreSQL, where it is cheaper to group by), `through` writes a key as
/// the instant stored, the way the server stores instants. The history triggers compute the same
/// instants (PostgreSQL's `psm_day_ceil` is the two steps in one).
struct Midnight {
    backend: DatabaseBackend,
    hours: i32,
}

impl Midnight {
    fn key(&self, at: &str) -> String {
        let hours = self.hours;
        if self.backend == DatabaseBackend::Postgres {
            return format!("ceil((date_part('epoch', {at}) + {hours} * 3600) / 86400)");
        }
        let day = |shift: &str| {
            format!(
                "strftime('%Y-%m-%dT%H:%M:%S+00:00', {at}, '{hours} hours', 'start of day', {shift}'{} hours')",
                -hours
            )
        };
        format!("(CASE WHEN {at} <= {floor} THEN {floor} ELSE {next} END)", floor = day(""), next = day("'+1 day', "))
    }

    fn through(&self, key: &str) -> String {
        match self.backend {
            DatabaseBackend::Postgres => format!("to_timestamp({key} * 86400 - {} * 3600)", self.hours),
            _ => key.to_owned(),
        }
    }
}

/// How a history is computed: the rows that change state (`parent`, each with the `keys` that group
/// it, a `record_key` and the instant `start` from which it counts), their changes of state (`changes`,
/// naming the parent in `parent_column`, with `status` and the instant `at`), and the state before
/// the first change (`initial`, answered or not).
struct HistorySource {
    parent: &'static str,
    keys: &'static [&'static str],
    start: &'static str,
    changes: &'static str,
    parent_column: &'static str,
    at: &'static str,
    initial: &'static str,
    /// Whether the history tracks an answer (referrals: once an `ACCEPTED` or `DECLINED` event happened).
    answered: bool,
}

/// The rows of a history computed from its source, in table order (`columns`: the keys, `through`,
/// `status` and, if answered, `responded`). Each change holds from its instant (or the start, if later)
/// to the next change's; before the first change, or without any, the parent stands in the initial
/// state from its start. Each such span counts from the midnight at or after its beginning and stops
/// counting from the midnight at or after its end; spans that begin and end at the same instant add
/// nothing. One pass over the changes, in order within each parent; four kinds of delta per change
/// (its state entered and left, the initial state entered and left).
fn history_rows(backend: DatabaseBackend, hours: i32, source: &HistorySource, columns: &[&str]) -> String {
    let HistorySource { parent, keys, start, changes, parent_column, at, initial, answered } = source;
    let midnight = Midnight { backend, hours };
    let parent_keys = keys.iter().map(|key| format!("p.{key}, ")).collect::<String>();
    let span_keys = keys.iter().map(|key| format!("s.{key}, ")).collect::<String>();
    let (answer, answered_so_far, span_answer) = if *answered {
        (
            "x.answered, ",
            ", MAX(CASE WHEN to_status IN ('ACCEPTED', 'DECLINED') THEN 1 ELSE 0 END) OVER w AS answered",
            "CASE WHEN m.k <= 2 THEN s.answered ELSE 0 END AS responded, ",
        )
    } else {
        ("", "", "")
    };
    let day = midnight.key("CASE m.k WHEN 1 THEN s.since WHEN 2 THEN s.until WHEN 3 THEN s.start ELSE s.since END");
    let grouped = columns
        .iter()
        .filter(|column| **column != "through")
        .map(|column| format!("d.{column}"))
        .chain(["d.day".to_owned()])
        .collect::<Vec<_>>()
        .join(", ");
    let selected = columns
        .iter()
        .map(|column| if *column == "through" { midnight.through("d.day") } else { format!("d.{column}") })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT {selected}, CAST(SUM(d.n) AS BIGINT), CAST(SUM(d.n * d.record_key) AS BIGINT) FROM (\
           SELECT {span_keys}s.record_key, CASE WHEN m.k <= 2 THEN s.status ELSE '{initial}' END AS status, \
                  {span_answer}{day} AS day, CASE WHEN m.k IN (1, 3) THEN 1 ELSE -1 END AS n \
           FROM (\
             SELECT {parent_keys}p.record_key, p.{start} AS start, x.status, {answer}\
                    CASE WHEN x.at > p.{start} THEN x.at WHEN x.at IS NOT NULL THEN p.{start} END AS since, \
                    CASE WHEN x.next_at > p.{start} THEN x.next_at WHEN x.next_at IS NOT NULL THEN p.{start} END \
                      AS until, \
                    (x.pos IS NULL OR x.pos = 1) AS first_change \
             FROM {parent} p LEFT JOIN (\
               SELECT {parent_column} AS parent, to_status AS status, {at} AS at, LEAD({at}) OVER w AS next_at, \
                      ROW_NUMBER() OVER w AS pos{answered_so_far} \
               FROM {changes} WINDOW w AS (PARTITION BY {parent_column} ORDER BY {at}, id)\
             ) AS x ON x.parent = p.id\
           ) AS s, (SELECT 1 AS k UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4) AS m \
           WHERE (m.k = 1 AND s.since IS NOT NULL AND (s.until IS NULL OR s.until > s.since)) \
              OR (m.k = 2 AND s.until > s.since) \
              OR (m.k = 3 AND s.first_change AND (s.since IS NULL OR s.since > s.start)) \
              OR (m.k = 4 AND s.first_change AND s.since > s.start)\
         ) AS d GROUP BY {grouped} HAVING NOT (SUM(d.n) = 0 AND SUM(d.n * d.record_key) = 0)"
    )
}

/// The rows of [`CaseTally::History`] computed from the cases and their status changes: a case stands in
/// the status of each change from the change (or its opening, if later) to the next change, and in no
/// status from its opening to its first change.
fn case_history(backend: DatabaseBackend, hours: i32) -> String {
    let source = HistorySource {
        parent: "cases",
        keys: &["kelurahan_code"],
        start: "opened_at",
        changes: "case_status_changes",
        parent_column: "case_id",
        at: "changed_at",
        initial: NO_STATUS,
        answered: false,
    };
    history_rows(backend, hours, &source, &["kelurahan_code", "through", "status"])
}

/// The rows of [`REFERRAL_HISTORY`] computed from the referrals and their events: a referral stands in
/// the status of each event from the event (or its sending, if later) to the next event, answered once
/// an answer came, and as sent, unanswered, from its sending to its first event.
fn referral_history(backend: DatabaseBackend, hours: i32) -> String {
    let source = HistorySource {
        parent: "referrals",
        keys: &["to_organisation_id", "from_organisation_id"],
        start: "sent_at",
        changes: "referral_events",
        parent_column: "referral_id",
        at: "occurred_at",
        initial: "SENT",
        answered: true,
    };
    history_rows(
        backend,
        hours,
        &source,
        &["to_organisation_id", "from_organisation_id", "through", "status", "responded"],
    )
}

/// The cases as they stood at the city midnight `instant`, from [`CaseTally::History`]: their counts and
/// key sums by kelurahan and status (NULL before a case's first status change), with the columns of
/// the case tally, to be read as `cases`.
pub fn case_history_as_of(instant: chrono::DateTime<chrono::Utc>) -> SelectStatement {
    history_as_of(CaseTally::History.table(), &["kelurahan_code"], instant)
}

/// The referrals as they stood at the city midnight `instant`, from [`REFERRAL_HISTORY`]: their counts
/// and key sums by receiving and sending organisation, status and whether answered, with the columns of
/// [`REFERRALS`], to be read as `referrals`.
pub fn referral_history_as_of(instant: chrono::DateTime<chrono::Utc>) -> SelectStatement {
    history_as_of(REFERRAL_HISTORY, &["to_organisation_id", "from_organisation_id", "responded"], instant)
}

/// The sums of the history rows of `table` counting at `instant`, by `keys` and status: the groups left
/// empty by then are left out.
fn history_as_of(table: &str, keys: &[&str], instant: chrono::DateTime<chrono::Utc>) -> SelectStatement {
    let table = Alias::new(table);
    let mut select = Query::select();
    select.from(table.clone());
    for key in keys {
        select.column((table.clone(), Alias::new(*key))).group_by_col((table.clone(), Alias::new(*key)));
    }
    let status = Expr::col((table.clone(), Alias::new("status")));
    select
        .expr_as(Expr::case(status.clone().eq(NO_STATUS), Expr::cust("NULL")).finally(status.clone()), "status")
        .group_by_col((table.clone(), Alias::new("status")))
        .expr_as(Expr::cust("CAST(SUM(n) AS BIGINT)"), "n")
        .expr_as(Expr::cust("CAST(SUM(key_sum) AS BIGINT)"), "key_sum")
        .and_where(Expr::col((table, Alias::new("through"))).lte(instant))
        .and_having(Expr::cust("SUM(n) <> 0"));
    select
}

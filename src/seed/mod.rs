//! Deterministic demo data: a realistic picture of Banjarmasin's PSM programme for dashboards, demos and
//! load tests.
//!
//! [`seed_demo`] fills a migrated, empty database with organisations (Dinsos and its partners), PSM
//! volunteers with their Bimtek attendance and awards, programmes, and then, in chunks, persons, cases with
//! their full status history, referrals with their event log, enrollments, outcomes and consents. The same
//! seed, case count and "now" always give the same rows, ids included: every id is a UUID v7 built from the
//! row's own instant and the seeded random stream, never from the clock. Every instant is a whole second in
//! UTC; calendar rules (office hours, weekends, years of reference numbers) follow WITA (UTC+8).
//!
//! What does not live here: the regions (reference data loaded by a migration, read back here), and the
//! business rules of the API (the seed writes rows that satisfy them: with COPY on PostgreSQL, multi-row
//! INSERTs on SQLite).
//!
//! Case lifecycle used: NEW -> ASSESSMENT -> IN_SERVICE | REFERRED | CLOSED; IN_SERVICE -> REFERRED | CLOSED;
//! REFERRED -> IN_SERVICE (the partner declined, the referral expired or was withdrawn) | CLOSED;
//! CLOSED -> REOPENED -> ASSESSMENT. Actors are written `volunteer:<uuid>`, `staff:<organisation code>`
//! or `system`.
//!
//! Layout: this module loads (the order of the tables, chunks, progress, indexes dropped and rebuilt);
//! [`rows`] names the tables and writes their rows as multi-row INSERTs or COPY data; [`random`] holds
//! time, ids, random helpers and names; [`world`] the organisations, volunteers and programmes;
//! [`persons`] the persons and their categories; [`cases`] each case with its history, referrals,
//! enrollments, outcomes and consents.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use entity::enums::{
    CaseSource, CaseStatus, ClosureReason, ConsentGiver, ConsentScope, EnrollmentStatus, OrganisationKind, OutcomeType,
    PpksCategory, ProgrammeKind, PsksType, ReferralReason, ReferralStatus, RegionLevel, Sex, Urgency, VolunteerStatus,
};
use entity::{case, organisation, region, volunteer};
use fastrand::Rng;
use indicatif::{ProgressBar, ProgressStyle};
use sea_orm::sea_query::{Query, Value};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Statement, TransactionTrait,
};
use uuid::Uuid;

mod cases;
mod persons;
mod random;
mod rows;
mod world;

use cases::*;
pub use persons::nik;
use persons::*;
use random::*;
use rows::*;
use world::*;

/// What `seed_demo` inserted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub organisations: u64,
    pub volunteers: u64,
    pub persons: u64,
    pub cases: u64,
    pub referrals: u64,
    pub enrollments: u64,
    pub outcomes: u64,
    pub consents: u64,
    pub status_changes: u64,
    pub referral_events: u64,
    pub training_attendances: u64,
    pub awards: u64,
    pub programmes: u64,
}

impl SeedReport {
    /// Adds the counts of `other` to these.
    fn add(&mut self, other: &SeedReport) {
        self.organisations += other.organisations;
        self.volunteers += other.volunteers;
        self.persons += other.persons;
        self.cases += other.cases;
        self.referrals += other.referrals;
        self.enrollments += other.enrollments;
        self.outcomes += other.outcomes;
        self.consents += other.consents;
        self.status_changes += other.status_changes;
        self.referral_events += other.referral_events;
        self.training_attendances += other.training_attendances;
        self.awards += other.awards;
        self.programmes += other.programmes;
    }
}

/// Options of the demo seed.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// How many cases to generate (spread over the five years before `now`).
    pub cases: u64,
    /// Draw a progress bar over the cases inserted, on stderr.
    pub progress: bool,
    /// The "now" the data is relative to: nothing happens after it. Sub-second parts are dropped.
    pub now: DateTime<Utc>,
    /// Seed of the random stream; the same seed, `cases` and `now` give the same rows.
    pub seed: u64,
    /// Build the statistics tallies for this offset from UTC (hours) at the end of the load, after the
    /// indexes, when they were not built before (built tallies are rebuilt for the offset they had).
    pub tallies_for: Option<i32>,
}

/// Seconds in an hour.
const HOUR: i64 = 3_600;
/// Seconds in a day.
const DAY: i64 = 86_400;
/// Banjarmasin's offset from UTC (WITA, Asia/Makassar).
const WITA: i64 = 8 * HOUR;
/// Cases open over the five years before "now".
const CASE_WINDOW_DAYS: i64 = 1_826;
/// Cases generated, and inserted in one transaction, at a time.
const CHUNK_CASES: u64 = 5_000;
/// Chunks generated ahead of the inserts (the generator runs on its own thread).
const CHUNKS_AHEAD: usize = 2;
/// Rows per INSERT statement, at most (measured: about 1,000 is 25% faster on PostgreSQL than statements
/// at the 65,535-parameter limit).
const MAX_ROWS_PER_STATEMENT: usize = 1_000;
/// Chunks PostgreSQL inserts at the same time, each on its own connection of the pool.
const INSERT_CONNECTIONS: usize = 2;
/// The actor of everything Dinsos staff do.
const DINSOS_ACTOR: &str = "staff:DINSOS-BJM";

/// Loads the demo data into `db`, which must be migrated and hold no organisations, volunteers or cases
/// (see [`is_empty`]); returns how many rows of each kind it inserted.
///
/// Small tables go in one transaction, then cases and everything hanging off them in transactions of
/// [`CHUNK_CASES`] cases, generated on a blocking thread while earlier chunks are being inserted (two at a
/// time on PostgreSQL). Chunks committed before an error stay: seed a fresh database.
pub async fn seed_demo(db: &DatabaseConnection, options: &SeedOptions) -> Result<SeedReport, DbErr> {
    let started = std::time::Instant::now();
    let backend = db.get_database_backend();
    let now = options.now.timestamp();
    let regions = region::Entity::find()
        .filter(region::Column::Level.eq(RegionLevel::Subdistrict))
        .order_by_asc(region::Column::Code)
        .all(db)
        .await?;
    if regions.is_empty() {
        return Err(DbErr::Custom("the regions table has no kelurahan: run the migrations first".into()));
    }

    let mut rng = Rng::with_seed(options.seed);
    // Record keys come from a stream of their own, so that adding them left the rest of the data as it was.
    let mut keys = Rng::with_seed(options.seed ^ RECORD_KEY_STREAM);
    let (world, reference, mut report) = build_reference(&mut rng, &mut keys, &regions, now, options.cases)?;
    let mut sql = InsertSql::new(backend);
    let mut statements = Vec::new();
    for rows in reference {
        rows.into_statements(&mut sql, &mut statements)?;
    }
    let txn = db.begin().await?;
    for statement in statements {
        txn.execute_raw(statement).await?;
    }
    txn.commit().await?;

    let bar = if options.progress { ProgressBar::new(options.cases) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} seeding [{elapsed_precise}] {wide_bar} {pos}/{len} cases ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );

    let generator = CaseGenerator {
        state: Gen { rng, keys, world, now, niks: HashSet::new() },
        sql,
        total: options.cases,
        done: 0,
        year_sequence: HashMap::new(),
    };
    let (sender, receiver) = tokio::sync::mpsc::channel(CHUNKS_AHEAD);
    let worker = tokio::task::spawn_blocking(move || generator.run(&sender));
    // Chunks are independent of each other (persons never span chunks), so PostgreSQL can insert two at a
    // time on two connections: the server, not this process, is the bottleneck. SQLite has one writer.
    let connections = if backend == DbBackend::Sqlite { 1 } else { INSERT_CONNECTIONS };
    let receiver = tokio::sync::Mutex::new(receiver);
    let insert_chunks = || async {
        let mut inserted = SeedReport::default();
        loop {
            let next = receiver.lock().await.recv().await;
            let Some(chunk) = next else {
                return Ok::<_, DbErr>(inserted);
            };
            let chunk = chunk?;
            insert_chunk(db, chunk.load).await?;
            inserted.add(&chunk.report);
            bar.inc(chunk.cases);
        }
    };
    let deferred = if backend == DbBackend::Postgres && options.cases >= DEFER_INDEXES_FROM {
        defer_indexes_and_foreign_keys(db).await?
    } else {
        Deferred::default()
    };
    let tallies = crate::service::tallies::suspend(db).await?;
    let loaded = futures_util::future::try_join_all((0..connections).map(|_| insert_chunks())).await;
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "demo rows loaded");
    // Partners sync from their feeds, which start with every referral already sent to them: built while
    // the feed's indexes are deferred with the others.
    let backfilled = match &loaded {
        Ok(_) => crate::service::feed::backfill(db).await.map_err(|error| DbErr::Custom(error.detail())),
        Err(_) => Ok(()),
    };
    // Rebuild the indexes and keep the tallies again even when loading failed, so that the schema stays
    // whole. One after the other: both keep the two cores busy, and side by side they took longer.
    let indexed = rebuild_indexes(db, &deferred, options.progress).await;
    crate::service::tallies::resume(db, tallies.or(options.tallies_for)).await?;
    indexed?;
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "indexes, foreign keys and tallies rebuilt");
    for inserted in loaded? {
        report.add(&inserted);
    }
    backfilled?;
    worker.await.map_err(|error| DbErr::Custom(format!("the demo data generator stopped: {error}")))?;
    bar.finish_and_clear();
    tracing::info!(
        cases = report.cases,
        persons = report.persons,
        volunteers = report.volunteers,
        referrals = report.referrals,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "demo data loaded"
    );
    Ok(report)
}

/// Loads one chunk in one transaction.
async fn insert_chunk(db: &DatabaseConnection, load: Load) -> Result<(), DbErr> {
    match load {
        Load::Statements(statements) => {
            let txn = db.begin().await?;
            for statement in statements {
                txn.execute_raw(statement).await?;
            }
            txn.commit().await
        }
        Load::Copies(copies) => {
            copy_chunk(db, copies).await.map_err(|error| DbErr::Custom(format!("seed COPY: {error}")))
        }
    }
}

/// Copies one chunk's tables into PostgreSQL in one transaction, on a connection of the pool.
async fn copy_chunk(db: &DatabaseConnection, copies: Vec<CopyRows>) -> Result<(), sea_orm::sqlx::Error> {
    use sea_orm::sqlx::Connection;
    let mut connection = db.get_postgres_connection_pool().acquire().await?;
    let mut txn = connection.begin().await?;
    // Demo data can be regenerated: do not wait for the WAL flush of every chunk.
    sea_orm::sqlx::query("SET LOCAL synchronous_commit TO OFF").execute(&mut *txn).await?;
    for copy in copies {
        let mut sink = txn.copy_in_raw(&copy.statement).await?;
        sink.send(copy.data).await?;
        sink.finish().await?;
    }
    txn.commit().await
}

/// From this many cases on, a PostgreSQL load defers secondary indexes and foreign keys to its end.
const DEFER_INDEXES_FROM: u64 = 100_000;

/// The tables the chunked load fills.
const BULK_TABLES: &[&str] = &[
    "persons",
    "consents",
    "cases",
    "case_categories",
    "case_status_changes",
    "enrollments",
    "referrals",
    "referral_events",
    "outcomes",
    "referral_changes",
];

/// What a bulk load dropped from the bulk tables, to build again at its end.
#[derive(Default)]
struct Deferred {
    /// `CREATE [UNIQUE] INDEX` statements of indexes that back no constraint.
    indexes: Vec<String>,
    /// `ALTER TABLE .. ADD CONSTRAINT .. PRIMARY KEY | UNIQUE` statements.
    keys: Vec<String>,
    /// Foreign keys: table, constraint name, definition.
    foreign_keys: Vec<(String, String, String)>,
}

impl Deferred {
    fn len(&self) -> usize {
        self.indexes.len() + self.keys.len() + self.foreign_keys.len()
    }
}

/// Drops the foreign keys, primary keys, unique constraints and indexes of the bulk tables, and returns
/// what recreates them. Building an index once over a full table, and checking a foreign key once with
/// a join, is several times cheaper than doing both row by row (pg_restore loads the same way); a
/// primary key of random UUIDs, kept during the load, took a random page write per row. CHECK and NOT
/// NULL constraints stay; every key is checked and every foreign key validated when it returns. Only
/// the bulk tables reference the bulk tables, so no other table's foreign key stands in the way.
async fn defer_indexes_and_foreign_keys(db: &DatabaseConnection) -> Result<Deferred, DbErr> {
    let tables = BULK_TABLES.iter().map(|table| format!("'{table}'")).collect::<Vec<_>>().join(", ");
    let indexes = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i \
                 WHERE i.schemaname = current_schema() AND i.tablename IN ({tables}) \
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c \
                                 WHERE c.conindid = format('%I.%I', i.schemaname, i.indexname)::regclass) \
                 ORDER BY i.indexname"
            ),
        ))
        .await?;
    // Foreign keys first: the keys they reference cannot go while they stand.
    let constraints = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT c.conname, c.contype::text AS kind, t.relname, pg_get_constraintdef(c.oid) AS definition \
                 FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid \
                 JOIN pg_namespace n ON n.oid = t.relnamespace \
                 WHERE c.contype IN ('f', 'u', 'p') AND n.nspname = current_schema() AND t.relname IN ({tables}) \
                 ORDER BY c.contype = 'f' DESC, c.conname"
            ),
        ))
        .await?;
    let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    let mut deferred = Deferred::default();
    for row in indexes {
        let name: String = row.try_get("", "indexname")?;
        db.execute_unprepared(&format!("DROP INDEX {}", quote(&name))).await?;
        deferred.indexes.push(row.try_get("", "indexdef")?);
    }
    for row in constraints {
        let name: String = row.try_get("", "conname")?;
        let kind: String = row.try_get("", "kind")?;
        let table: String = row.try_get("", "relname")?;
        let definition: String = row.try_get("", "definition")?;
        db.execute_unprepared(&format!("ALTER TABLE {} DROP CONSTRAINT {}", quote(&table), quote(&name))).await?;
        if kind != "f" {
            deferred.keys.push(format!("ALTER TABLE {} ADD CONSTRAINT {} {definition}", quote(&table), quote(&name)));
        } else {
            deferred.foreign_keys.push((quote(&table), quote(&name), definition));
        }
    }
    Ok(deferred)
}

/// Recreates what [`defer_indexes_and_foreign_keys`] dropped, then refreshes the planner's statistics.
///
/// Two connections share the work where PostgreSQL lets them: indexes are built two at a time (with
/// room to sort in memory), foreign keys are added unchecked one by one (an instant each) and then
/// validated two at a time (validating locks neither table against the other validations), and the
/// tables are analysed two at a time. At a million cases the indexes and foreign keys took 26 s on one
/// connection and 21 s on two (each build with PostgreSQL's parallel workers); without the workers the
/// whole seed took 60 s against 69 s with them, the same day.
async fn rebuild_indexes(db: &DatabaseConnection, deferred: &Deferred, progress: bool) -> Result<(), DbErr> {
    if deferred.len() == 0 {
        return Ok(());
    }
    let bar = if progress { ProgressBar::new(deferred.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} indexing [{elapsed_precise}] {wide_bar} {pos}/{len} indexes and foreign keys",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    // Keys first (the foreign keys need them), then the other indexes. Two builds at a time already keep
    // both cores busy: no parallel workers on top.
    let build_indexes = deferred
        .keys
        .iter()
        .chain(&deferred.indexes)
        .map(|definition| (vec![INDEX_SETTINGS.to_owned(), definition.clone()], true));
    two_at_a_time(db, build_indexes.collect(), &bar).await?;
    for (table, name, definition) in &deferred.foreign_keys {
        db.execute_unprepared(&format!("ALTER TABLE {table} ADD CONSTRAINT {name} {definition} NOT VALID")).await?;
    }
    let validate = deferred
        .foreign_keys
        .iter()
        .map(|(table, name, _)| (vec![format!("ALTER TABLE {table} VALIDATE CONSTRAINT {name}")], true));
    two_at_a_time(db, validate.collect(), &bar).await?;
    let analyse = BULK_TABLES.iter().map(|table| (vec![format!("ANALYZE {table}")], false));
    two_at_a_time(db, analyse.collect(), &bar).await?;
    bar.finish_and_clear();
    Ok(())
}

/// Settings of each index build: room to sort in memory, and one process per build.
const INDEX_SETTINGS: &str = "SET LOCAL maintenance_work_mem = '256MB'; SET LOCAL max_parallel_maintenance_workers = 0";

/// Runs each batch of statements in its own transaction, two batches at a time on two connections; a
/// batch flagged `true` advances the progress bar.
async fn two_at_a_time(
    db: &DatabaseConnection,
    batches: Vec<(Vec<String>, bool)>,
    bar: &ProgressBar,
) -> Result<(), DbErr> {
    let queue = std::sync::Mutex::new(batches.into_iter());
    let next = || queue.lock().map_or(None, |mut queue| queue.next());
    let worker = || async {
        while let Some((statements, counted)) = next() {
            let txn = db.begin().await?;
            for statement in &statements {
                txn.execute_unprepared(statement).await?;
            }
            txn.commit().await?;
            if counted {
                bar.inc(1);
            }
        }
        Ok::<_, DbErr>(())
    };
    futures_util::future::try_join_all((0..INSERT_CONNECTIONS).map(|_| worker())).await.map(|_| ())
}

/// True when the database has no organisations, volunteers or cases yet (so startup may load demo data).
pub async fn is_empty(db: &DatabaseConnection) -> Result<bool, DbErr> {
    Ok(organisation::Entity::find().one(db).await?.is_none()
        && volunteer::Entity::find().one(db).await?.is_none()
        && case::Entity::find().one(db).await?.is_none())
}

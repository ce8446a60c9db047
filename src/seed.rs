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
//! business rules of the API (the seed writes rows that satisfy them, with plain multi-row INSERTs).
//!
//! Case lifecycle used: NEW -> ASSESSMENT -> IN_SERVICE | REFERRED | CLOSED; IN_SERVICE -> REFERRED | CLOSED;
//! REFERRED -> IN_SERVICE (the partner declined, the referral expired or was withdrawn) | CLOSED;
//! CLOSED -> REOPENED -> ASSESSMENT. Actors are written `volunteer:<uuid>`, `staff:<organisation code>`
//! or `system`.

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
            insert_chunk(db, backend, chunk.statements).await?;
            inserted.add(&chunk.report);
            bar.inc(chunk.cases);
        }
    };
    let deferred = if backend == DbBackend::Postgres && options.cases >= DEFER_INDEXES_FROM {
        defer_indexes_and_foreign_keys(db).await?
    } else {
        Vec::new()
    };
    let tallies = crate::service::tallies::suspend(db).await?;
    let loaded = futures_util::future::try_join_all((0..connections).map(|_| insert_chunks())).await;
    // Rebuild the indexes and keep the tallies again even when loading failed, so that the schema stays whole.
    rebuild_indexes(db, &deferred, options.progress).await?;
    crate::service::tallies::resume(db, tallies).await?;
    for inserted in loaded? {
        report.add(&inserted);
    }
    worker.await.map_err(|error| DbErr::Custom(format!("the demo data generator stopped: {error}")))?;
    // Partners sync from their feeds, which start with every referral already sent to them.
    crate::service::feed::backfill(db).await.map_err(|error| DbErr::Custom(error.detail()))?;
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

/// Inserts one chunk's statements in one transaction.
async fn insert_chunk(db: &DatabaseConnection, backend: DbBackend, statements: Vec<Statement>) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    if backend == DbBackend::Postgres {
        // Demo data can be regenerated: do not wait for the WAL flush of every chunk.
        txn.execute_unprepared("SET LOCAL synchronous_commit TO OFF").await?;
    }
    for statement in statements {
        txn.execute_raw(statement).await?;
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
];

/// Drops the foreign keys and the non-unique indexes of the bulk tables, and returns the statements
/// that recreate them. Building an index once over a full table, and checking a foreign key once with a
/// join, is several times cheaper than doing both row by row (pg_restore loads the same way). Primary
/// keys, unique indexes and CHECK constraints stay, and every foreign key is validated when it returns.
async fn defer_indexes_and_foreign_keys(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    let tables = BULK_TABLES.iter().map(|table| format!("'{table}'")).collect::<Vec<_>>().join(", ");
    let indexes = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() \
                 AND tablename IN ({tables}) AND indexdef NOT LIKE 'CREATE UNIQUE INDEX%' ORDER BY indexname"
            ),
        ))
        .await?;
    let foreign_keys = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT c.conname, t.relname, pg_get_constraintdef(c.oid) AS definition \
                 FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid \
                 JOIN pg_namespace n ON n.oid = t.relnamespace \
                 WHERE c.contype = 'f' AND n.nspname = current_schema() AND t.relname IN ({tables}) \
                 ORDER BY c.conname"
            ),
        ))
        .await?;
    let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    let mut restore = Vec::with_capacity(indexes.len() + foreign_keys.len());
    for row in indexes {
        let name: String = row.try_get("", "indexname")?;
        db.execute_unprepared(&format!("DROP INDEX {}", quote(&name))).await?;
        restore.push(row.try_get("", "indexdef")?);
    }
    for row in foreign_keys {
        let name: String = row.try_get("", "conname")?;
        let table: String = row.try_get("", "relname")?;
        let definition: String = row.try_get("", "definition")?;
        db.execute_unprepared(&format!("ALTER TABLE {} DROP CONSTRAINT {}", quote(&table), quote(&name))).await?;
        restore.push(format!("ALTER TABLE {} ADD CONSTRAINT {} {definition}", quote(&table), quote(&name)));
    }
    Ok(restore)
}

/// Recreates what [`defer_indexes_and_foreign_keys`] dropped, then refreshes the planner's statistics.
async fn rebuild_indexes(db: &DatabaseConnection, deferred: &[String], progress: bool) -> Result<(), DbErr> {
    if deferred.is_empty() {
        return Ok(());
    }
    let bar = if progress { ProgressBar::new(deferred.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} indexing [{elapsed_precise}] {wide_bar} {pos}/{len} indexes and foreign keys",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    for definition in deferred {
        db.execute_unprepared(definition).await?;
        bar.inc(1);
    }
    db.execute_unprepared(&format!("ANALYZE {}", BULK_TABLES.join(", "))).await?;
    bar.finish_and_clear();
    Ok(())
}

/// True when the database has no organisations, volunteers or cases yet (so startup may load demo data).
pub async fn is_empty(db: &DatabaseConnection) -> Result<bool, DbErr> {
    Ok(organisation::Entity::find().one(db).await?.is_none()
        && volunteer::Entity::find().one(db).await?.is_none()
        && case::Entity::find().one(db).await?.is_none())
}

// ---------------------------------------------------------------------------------------------------------
// Rows and statements
// ---------------------------------------------------------------------------------------------------------

/// A table and the columns the seed fills, in the order values are pushed.
struct Table {
    name: &'static str,
    columns: &'static [&'static str],
}

// The tables the seed fills, with their columns in the order rows push their values.

static ORGANISATIONS: Table = Table {
    name: "organisations",
    columns: &["id", "code", "name", "kind", "kelurahan_code", "created_at", "updated_at"],
};
static VOLUNTEERS: Table = Table {
    name: "volunteers",
    columns: &[
        "id",
        "full_name",
        "phone",
        "gender",
        "birth_year",
        "psks_type",
        "status",
        "served_since",
        "home_kelurahan_code",
        "kelurahan_code",
        "created_at",
        "updated_at",
        "record_key",
    ],
};
static TRAINING_ATTENDANCES: Table = Table {
    name: "training_attendances",
    columns: &["id", "volunteer_id", "course", "organiser_id", "attended_on", "hours", "created_at", "updated_at"],
};
static AWARDS: Table = Table {
    name: "awards",
    columns: &["id", "volunteer_id", "title", "awarded_on", "awarded_by", "created_at", "updated_at"],
};
static PROGRAMMES: Table = Table {
    name: "programmes",
    columns: &[
        "id",
        "code",
        "name",
        "kind",
        "description",
        "owner_organisation_id",
        "starts_on",
        "ends_on",
        "target",
        "budget_idr",
        "created_at",
        "updated_at",
    ],
};
static PROGRAMME_CATEGORIES: Table = Table { name: "programme_categories", columns: &["programme_id", "category"] };
static PERSONS: Table = Table {
    name: "persons",
    columns: &[
        "id",
        "full_name",
        "nik",
        "birth_date",
        "sex",
        "disability",
        "address",
        "phone",
        "kelurahan_code",
        "created_at",
        "updated_at",
    ],
};
static CASES: Table = Table {
    name: "cases",
    columns: &[
        "id",
        "reference_number",
        "person_id",
        "reporting_volunteer_id",
        "kelurahan_code",
        "urgency",
        "source",
        "status",
        "summary",
        "opened_at",
        "closed_at",
        "closure_reason",
        "version",
        "created_at",
        "updated_at",
        "record_key",
    ],
};
static CASE_CATEGORIES: Table = Table { name: "case_categories", columns: &["case_id", "category"] };
static CASE_STATUS_CHANGES: Table = Table {
    name: "case_status_changes",
    columns: &["id", "case_id", "from_status", "to_status", "changed_at", "changed_by", "note"],
};
static REFERRALS: Table = Table {
    name: "referrals",
    columns: &[
        "id",
        "case_id",
        "from_organisation_id",
        "to_organisation_id",
        "status",
        "reason",
        "note",
        "sent_at",
        "respond_by",
        "responded_at",
        "completed_at",
        "version",
        "created_at",
        "updated_at",
        "record_key",
    ],
};
static REFERRAL_EVENTS: Table = Table {
    name: "referral_events",
    columns: &["id", "referral_id", "from_status", "to_status", "reason", "actor", "occurred_at", "note"],
};
static ENROLLMENTS: Table = Table {
    name: "enrollments",
    columns: &[
        "id",
        "programme_id",
        "case_id",
        "status",
        "enrolled_at",
        "exited_at",
        "exit_reason",
        "created_at",
        "updated_at",
        "record_key",
    ],
};
static OUTCOMES: Table = Table {
    name: "outcomes",
    columns: &[
        "id",
        "case_id",
        "referral_id",
        "programme_id",
        "outcome_type",
        "outcome_group",
        "recorded_by",
        "recorded_at",
        "verified",
        "verified_at",
        "note",
        "created_at",
        "updated_at",
        "record_key",
    ],
};
static CONSENTS: Table = Table {
    name: "consents",
    columns: &[
        "id",
        "person_id",
        "scope",
        "partner_organisation_id",
        "given_by",
        "given_at",
        "expires_at",
        "revoked_at",
        "created_at",
        "updated_at",
    ],
};

/// Rows of one table, flattened, waiting to become multi-row INSERT statements.
struct Rows {
    table: &'static Table,
    values: Vec<Value>,
}

impl Rows {
    /// No rows yet, with room for about `capacity` of them.
    fn new(table: &'static Table, capacity: usize) -> Self {
        Rows { table, values: Vec::with_capacity(capacity * table.columns.len()) }
    }

    /// Appends one row; its values are in the order of the table's columns.
    fn push<const N: usize>(&mut self, row: [Value; N]) -> Result<(), DbErr> {
        if N != self.table.columns.len() {
            return Err(DbErr::Custom(format!(
                "seed row for {} has {N} values for {} columns",
                self.table.name,
                self.table.columns.len()
            )));
        }
        self.values.extend(row);
        Ok(())
    }

    /// How many rows there are.
    fn len(&self) -> u64 {
        (self.values.len() / self.table.columns.len()) as u64
    }

    /// Turns the rows into multi-row INSERT statements of at most [`MAX_ROWS_PER_STATEMENT`] rows, each
    /// within the backend's bind-parameter limit.
    fn into_statements(self, sql: &mut InsertSql, out: &mut Vec<Statement>) -> Result<(), DbErr> {
        let width = self.table.columns.len();
        // PostgreSQL takes at most 65,535 parameters per statement, SQLite (since 3.32) 32,766; PostgreSQL
        // inserts fastest with statements well below its limit.
        let limit = match sql.backend {
            DbBackend::Sqlite => 32_766,
            _ => 65_535,
        };
        let per_statement = (limit / width).clamp(1, MAX_ROWS_PER_STATEMENT);
        let mut remaining = self.values.len() / width;
        let mut values = self.values.into_iter();
        while remaining > 0 {
            let rows = remaining.min(per_statement);
            let text = sql.get(self.table, rows)?;
            out.push(Statement::from_sql_and_values(sql.backend, text, values.by_ref().take(rows * width)));
            remaining -= rows;
        }
        Ok(())
    }
}

/// The SQL of multi-row INSERT statements, built by sea-query once per table and row count.
///
/// The text is built from typed NULL placeholders and the rows' own values are bound to it: handing the
/// values to sea-query would copy every one of them (a third of the generator's time).
struct InsertSql {
    backend: DbBackend,
    cache: HashMap<(&'static str, usize), String>,
}

impl InsertSql {
    /// An empty cache for `backend`.
    fn new(backend: DbBackend) -> Self {
        InsertSql { backend, cache: HashMap::new() }
    }

    /// `INSERT INTO table (columns) VALUES (..), (..)` for `rows` rows, with one bind parameter per value.
    fn get(&mut self, table: &'static Table, rows: usize) -> Result<String, DbErr> {
        if let Some(text) = self.cache.get(&(table.name, rows)) {
            return Ok(text.clone());
        }
        let width = table.columns.len();
        let mut insert = Query::insert();
        insert.into_table(table.name).columns(table.columns.iter().copied());
        for _ in 0..rows {
            insert
                .values((0..width).map(|_| Value::Bool(None).into()))
                .map_err(|error| DbErr::Custom(format!("seed insert into {}: {error}", table.name)))?;
        }
        let statement = self.backend.build(&insert);
        let parameters = statement.values.map_or(0, |values| values.0.len());
        if parameters != rows * width {
            return Err(DbErr::Custom(format!(
                "seed insert into {} has {parameters} parameters for {rows} rows of {width} values",
                table.name
            )));
        }
        self.cache.insert((table.name, rows), statement.sql.clone());
        Ok(statement.sql)
    }
}

// ---------------------------------------------------------------------------------------------------------
// Time, ids and random helpers
// ---------------------------------------------------------------------------------------------------------

/// The UTC instant `s` seconds after the Unix epoch.
fn instant(s: i64) -> Result<DateTime<Utc>, DbErr> {
    DateTime::from_timestamp(s, 0).ok_or_else(|| DbErr::Custom(format!("seed instant out of range: {s}")))
}

/// An instant column value.
fn at(s: i64) -> Result<Value, DbErr> {
    Ok(instant(s)?.into())
}

/// A nullable instant column value.
fn at_opt(s: Option<i64>) -> Result<Value, DbErr> {
    Ok(s.map(instant).transpose()?.into())
}

/// The WITA calendar day (days since 1970-01-01) of an instant.
fn local_day(s: i64) -> i64 {
    (s + WITA).div_euclid(DAY)
}

/// The instant 00:00 WITA starts the local day `day`.
fn day_start(day: i64) -> i64 {
    day * DAY - WITA
}

/// The date of local day `day`.
fn date(day: i64) -> Result<NaiveDate, DbErr> {
    i32::try_from(day)
        .ok()
        .and_then(NaiveDate::from_epoch_days)
        .ok_or_else(|| DbErr::Custom(format!("seed day out of range: {day}")))
}

/// The local day number of a date.
fn day_of(date: NaiveDate) -> i64 {
    i64::from(date.to_epoch_days())
}

/// The local day number of a calendar date.
fn ymd(year: i32, month: u32, day: u32) -> Result<i64, DbErr> {
    NaiveDate::from_ymd_opt(year, month, day)
        .map(day_of)
        .ok_or_else(|| DbErr::Custom(format!("seed date out of range: {year}-{month}-{day}")))
}

/// Monday = 0 ... Sunday = 6 of a local day (1970-01-01 was a Thursday).
fn weekday(day: i64) -> i64 {
    (day + 3).rem_euclid(7)
}

/// Whole years between `birth` and `on`.
fn age_on(birth: NaiveDate, on: NaiveDate) -> u32 {
    on.years_since(birth).unwrap_or(0)
}

/// A UUID v7 for a row created at instant `s`, its random bits from the seeded stream.
/// Seeds the stream of record keys apart from the main one (the bytes of "keys").
const RECORD_KEY_STREAM: u64 = 0x6b65_7973;

/// A record key (see `service::perturbation`): uniform in `[0, 2^31)`, from the keys' own stream.
fn record_key(keys: &mut Rng) -> Value {
    ((keys.u32(..) & 0x7fff_ffff) as i32).into()
}

fn new_id(rng: &mut Rng, s: i64) -> Uuid {
    let mut bytes = [0u8; 10];
    rng.fill(&mut bytes);
    uuid::Builder::from_unix_timestamp_millis(s.max(0).unsigned_abs() * 1_000, &bytes).into_uuid()
}

/// One element of a constant, non-empty table.
fn pick<T: Copy>(rng: &mut Rng, items: &[T]) -> T {
    items[rng.usize(..items.len())]
}

/// One element of a constant table of (item, weight) with a positive total weight.
fn weighted<T: Copy>(rng: &mut Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, weight)| weight).sum();
    let mut roll = rng.u32(..total.max(1));
    for &(item, weight) in items {
        if roll < weight {
            return item;
        }
        roll -= weight;
    }
    items[items.len() - 1].0
}

/// A uniform duration (or offset) in `[low, high]` seconds.
fn between(rng: &mut Rng, low: i64, high: i64) -> i64 {
    if high <= low { low } else { rng.i64(low..=high) }
}

/// A duration in `[low, high]` seconds skewed towards `low` (the larger `power`, the stronger).
fn skewed(rng: &mut Rng, low: i64, high: i64, power: f64) -> i64 {
    low + ((high - low) as f64 * rng.f64().powf(power)) as i64
}

/// An Indonesian mobile number.
fn phone(rng: &mut Rng) -> String {
    const PREFIXES: &[&str] = &["0811", "0812", "0813", "0821", "0822", "0852", "0853", "0857", "0878", "0896"];
    let prefix = pick(rng, PREFIXES);
    let digits = if rng.bool() { 8 } else { 7 };
    let mut number = String::with_capacity(12);
    number.push_str(prefix);
    for _ in 0..digits {
        number.push(rng.digit(10));
    }
    number
}

// Given names and family names common in Banjarmasin, by sex.

const MALE_FIRST: &[&str] = &[
    "Muhammad",
    "Ahmad",
    "Akhmad",
    "Abdul",
    "Rahmat",
    "Fauzi",
    "Syahrani",
    "Gusti",
    "Anang",
    "Jailani",
    "Hamdan",
    "Arsyad",
    "Husin",
    "Mahmud",
    "Rusdi",
    "Taufik",
    "Zainal",
    "Irwan",
    "Haris",
    "Rizki",
    "Fahmi",
    "Hairil",
    "Hasan",
    "Iberahim",
    "Yusran",
    "Norhalis",
    "Bahrani",
    "Saipul",
    "Rudiansyah",
    "Hendra",
    "Mursyid",
    "Syamsul",
    "Khairul",
    "Aspihani",
    "Murjani",
    "Sarkani",
    "Wahyudi",
    "Junaidi",
    "Hasbi",
    "Nordin",
    "Masransyah",
    "Jumberi",
];
const MALE_LAST: &[&str] = &[
    "Noor",
    "Rahman",
    "Hidayat",
    "Saputra",
    "Hasan",
    "Anshari",
    "Arsyad",
    "Fadillah",
    "Ramadhan",
    "Effendi",
    "Rusdiansyah",
    "Hidayatullah",
    "Maulana",
    "Rahmadi",
    "Kurniawan",
    "Ridwan",
    "Fauzan",
    "Iskandar",
    "Syahputra",
    "Hakim",
    "Rasyid",
    "Yamani",
    "Baseri",
    "Jamhuri",
    "Rifani",
    "Norsyahid",
    "Kifli",
    "Firdaus",
];
const FEMALE_FIRST: &[&str] = &[
    "Siti",
    "Nor",
    "Aluh",
    "Galuh",
    "Rahmah",
    "Fatimah",
    "Masitah",
    "Hayati",
    "Mariani",
    "Salasiah",
    "Rusmini",
    "Norhayati",
    "Nurul",
    "Rabiatul",
    "Hamidah",
    "Jamilah",
    "Saudah",
    "Aisyah",
    "Halimah",
    "Aminah",
    "Khairunnisa",
    "Noorliani",
    "Sri",
    "Dewi",
    "Fitriani",
    "Raudah",
    "Zubaidah",
    "Syarifah",
    "Mahmudah",
    "Yuliani",
    "Norlatifah",
    "Rusdiana",
    "Naimah",
    "Mardiana",
    "Herlina",
    "Masliani",
];
const FEMALE_LAST: &[&str] = &[
    "Noor",
    "Rahmah",
    "Hayati",
    "Wahyuni",
    "Sari",
    "Lestari",
    "Aulia",
    "Fitria",
    "Maulida",
    "Rahmawati",
    "Aini",
    "Hasanah",
    "Mardiyah",
    "Jannah",
    "Fadhilah",
    "Zahra",
    "Annisa",
    "Ramadhani",
    "Safitri",
    "Yanti",
    "Rusida",
    "Norjanah",
];

/// A Banjar name for a person of sex `sex`.
fn full_name(rng: &mut Rng, sex: Sex) -> String {
    let (first, last) = match sex {
        Sex::Male => (MALE_FIRST, MALE_LAST),
        Sex::Female => (FEMALE_FIRST, FEMALE_LAST),
    };
    let a = pick(rng, first);
    let mut b = pick(rng, last);
    if a == b {
        b = pick(rng, last);
    }
    match rng.u8(..100) {
        0..=7 => a.to_owned(),
        8..=84 => format!("{a} {b}"),
        _ => {
            let mut c = pick(rng, last);
            if c == b || c == a {
                c = pick(rng, first);
            }
            format!("{a} {c} {b}")
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// The world: regions, organisations, volunteers and programmes the cases refer to
// ---------------------------------------------------------------------------------------------------------

/// A kelurahan (urban village, the level below the kecamatan) and who covers it.
struct Kelurahan {
    code: String,
    name: String,
    /// The kecamatan's two digits, as in the NIK (`01` for `63.71.01`).
    district: String,
    /// How busy it is, relative to the others.
    weight: f64,
    /// Volunteers covering it, by the instant they are on record from.
    volunteers: Vec<usize>,
}

/// What cases need to know about a volunteer.
struct VolunteerRef {
    id: Uuid,
    /// The instant the volunteer is on record (and may report cases) from.
    from: i64,
}

/// What cases need to know about a programme.
struct ProgrammeRef {
    id: Uuid,
    kind: ProgrammeKind,
    owner: usize,
    /// First and last instant of the programme's period.
    from: i64,
    until: Option<i64>,
    categories: &'static [PpksCategory],
}

/// Everything the case generator refers to.
struct World {
    start: i64,
    kelurahan: Vec<Kelurahan>,
    /// Cumulative kelurahan weights, for picking a case's kelurahan.
    cumulative: Vec<f64>,
    volunteers: Vec<VolunteerRef>,
    organisations: Vec<Uuid>,
    programmes: Vec<ProgrammeRef>,
}

/// An organisation of the demo data.
struct OrganisationSpec {
    code: &'static str,
    name: &'static str,
    kind: OrganisationKind,
    kelurahan: Option<&'static str>,
}

// Indexes into `ORGANISATION_SPECS`.

const ORG_DINSOS: usize = 0;
const ORG_YBP: usize = 1;
const ORG_YSDB: usize = 2;
const ORG_PRLB: usize = 3;
const ORG_LKS_ELDERLY: usize = 4;
const ORG_LKSA: usize = 5;
const ORG_KARANG_TARUNA: usize = 6;
const ORG_PKM_PEKAUMAN: usize = 7;
const ORG_PKM_TELUK_TIRAM: usize = 8;
const ORG_KELURAHAN: usize = 9;
const ORG_KECAMATAN: usize = 10;
const ORG_BAZNAS: usize = 11;

/// Dinsos first, then its partners; the indexes above point into this table.
const ORGANISATION_SPECS: &[OrganisationSpec] = &[
    OrganisationSpec {
        code: "DINSOS-BJM",
        name: "Dinas Sosial Kota Banjarmasin",
        kind: OrganisationKind::SocialService,
        kelurahan: None,
    },
    OrganisationSpec {
        code: "YBP",
        name: "Yayasan Banua Peduli",
        kind: OrganisationKind::Ngo,
        kelurahan: Some("Sungai Baru"),
    },
    OrganisationSpec {
        code: "YSDB",
        name: "Yayasan Sahabat Difabel Banjarmasin",
        kind: OrganisationKind::Ngo,
        kelurahan: Some("Teluk Dalam"),
    },
    OrganisationSpec {
        code: "PRLB",
        name: "Perkumpulan Rumah Layak Banua",
        kind: OrganisationKind::Ngo,
        kelurahan: Some("Kuin Cerucuk"),
    },
    OrganisationSpec {
        code: "LKS-KB",
        name: "LKS Lanjut Usia Kayuh Baimbai",
        kind: OrganisationKind::Lks,
        kelurahan: Some("Sungai Jingah"),
    },
    OrganisationSpec {
        code: "LKSA-HB",
        name: "LKSA Harapan Bangsa",
        kind: OrganisationKind::Lks,
        kelurahan: Some("Kelayan Tengah"),
    },
    OrganisationSpec {
        code: "KT-BJM",
        name: "Karang Taruna Kota Banjarmasin",
        kind: OrganisationKind::KarangTaruna,
        kelurahan: None,
    },
    OrganisationSpec {
        code: "PKM-PEKAUMAN",
        name: "Puskesmas Pekauman",
        kind: OrganisationKind::Puskesmas,
        kelurahan: Some("Pekauman"),
    },
    OrganisationSpec {
        code: "PKM-TELUKTIRAM",
        name: "Puskesmas Teluk Tiram",
        kind: OrganisationKind::Puskesmas,
        kelurahan: Some("Teluk Tiram"),
    },
    OrganisationSpec {
        code: "KEL-KLS",
        name: "Kantor Kelurahan Kelayan Selatan",
        kind: OrganisationKind::KelurahanOffice,
        kelurahan: Some("Kelayan Selatan"),
    },
    OrganisationSpec {
        code: "KEC-BJU",
        name: "Kantor Kecamatan Banjarmasin Utara",
        kind: OrganisationKind::KecamatanOffice,
        kelurahan: None,
    },
    OrganisationSpec {
        code: "BAZNAS-BJM",
        name: "BAZNAS Kota Banjarmasin",
        kind: OrganisationKind::Other,
        kelurahan: None,
    },
];

/// Dense riverside kelurahan that report far more cases than the others.
const BUSY_KELURAHAN: &[&str] = &[
    "Pelambuan",
    "Kelayan Selatan",
    "Kelayan Barat",
    "Kelayan Timur",
    "Alalak Utara",
    "Sungai Jingah",
    "Pemurus Dalam",
    "Basirih",
    "Teluk Dalam",
];

/// A programme of the demo data, before it gets an id.
struct ProgrammeSpec {
    code: String,
    name: String,
    kind: ProgrammeKind,
    description: &'static str,
    owner: usize,
    starts: i64,
    ends: Option<i64>,
    target: i32,
    budget_idr: i64,
    categories: &'static [PpksCategory],
}

/// A training (Bimtek) volunteers attended.
struct CourseSpec {
    title: String,
    organiser: usize,
    day: i64,
    hours: i32,
    attendees: usize,
    active_only: bool,
}

/// The instants and days the reference data is laid out by.
struct Calendar {
    now: i64,
    /// The first instant a case may open.
    start: i64,
    /// When the records of volunteers and partners already at work were entered: before the first case.
    system_start: i64,
    now_day: i64,
    now_year: i32,
}

/// A volunteer, as training, awards and cases need to know them.
struct VolunteerDraft {
    id: Uuid,
    created: i64,
    served_day: i64,
    psm: bool,
    active: bool,
}

/// Builds organisations, volunteers, their trainings and awards, and programmes; returns the world the
/// cases refer to, the rows to insert (parents first) and their counts.
fn build_reference(
    rng: &mut Rng,
    keys: &mut Rng,
    regions: &[region::Model],
    now: i64,
    cases: u64,
) -> Result<(World, Vec<Rows>, SeedReport), DbErr> {
    let start = now - CASE_WINDOW_DAYS * DAY;
    let now_day = local_day(now);
    let calendar = Calendar { now, start, system_start: start - 45 * DAY, now_day, now_year: date(now_day)?.year() };

    let mut kelurahan = kelurahan_list(rng, regions);
    let (organisations, organisation_ids) = organisations(rng, &kelurahan, &calendar)?;
    let (volunteers, drafts) = volunteers(rng, keys, &mut kelurahan, &calendar, cases)?;
    let trainings = trainings(rng, &drafts, &organisation_ids, &calendar)?;
    let awards = awards(rng, &drafts, &calendar)?;
    let (programmes, programme_categories, programme_refs) = programmes(rng, &organisation_ids, &calendar)?;
    let report = SeedReport {
        organisations: organisations.len(),
        volunteers: volunteers.len(),
        training_attendances: trainings.len(),
        awards: awards.len(),
        programmes: programmes.len(),
        ..SeedReport::default()
    };

    let mut cumulative = Vec::with_capacity(kelurahan.len());
    let mut running = 0.0;
    for k in &kelurahan {
        running += k.weight;
        cumulative.push(running);
    }
    let world = World {
        start,
        kelurahan,
        cumulative,
        volunteers: drafts.iter().map(|v| VolunteerRef { id: v.id, from: v.created }).collect(),
        organisations: organisation_ids,
        programmes: programme_refs,
    };
    Ok((world, vec![organisations, volunteers, trainings, awards, programmes, programme_categories], report))
}

/// The kelurahan of the regions table, each with how busy it is.
fn kelurahan_list(rng: &mut Rng, regions: &[region::Model]) -> Vec<Kelurahan> {
    regions
        .iter()
        .map(|region| {
            // Trimmed: stray carriage returns from a CRLF source file must not reach addresses.
            let name = region.name.trim();
            let busy = BUSY_KELURAHAN.contains(&name);
            let weight = (0.35 + rng.f64() * 1.3) * if busy { 3.5 } else { 1.0 };
            Kelurahan {
                code: region.code.clone(),
                name: name.to_owned(),
                district: region.code.split('.').nth(2).unwrap_or("01").to_owned(),
                weight,
                volunteers: Vec::new(),
            }
        })
        .collect()
}

/// Dinsos and its partners; returns their rows and ids, in the order of [`ORGANISATION_SPECS`].
fn organisations(rng: &mut Rng, kelurahan: &[Kelurahan], calendar: &Calendar) -> Result<(Rows, Vec<Uuid>), DbErr> {
    let code_of = |name: &str| kelurahan.iter().find(|k| k.name == name).map(|k| k.code.clone());
    let mut rows = Rows::new(&ORGANISATIONS, ORGANISATION_SPECS.len());
    let mut ids = Vec::with_capacity(ORGANISATION_SPECS.len());
    for (index, spec) in ORGANISATION_SPECS.iter().enumerate() {
        let created = calendar.system_start - 10 * DAY + index as i64 * 7 * 60;
        let id = new_id(rng, created);
        ids.push(id);
        rows.push([
            id.into(),
            spec.code.into(),
            spec.name.into(),
            spec.kind.as_str().into(),
            spec.kelurahan.and_then(code_of).into(),
            at(created)?,
            at(created)?,
        ])?;
    }
    Ok((rows, ids))
}

/// About 300 volunteers (more for very large data sets) covering every kelurahan but two or three of the
/// quieter ones, the busy ones by several; the longest-serving started thirty years ago.
fn volunteers(
    rng: &mut Rng,
    keys: &mut Rng,
    kelurahan: &mut [Kelurahan],
    calendar: &Calendar,
    cases: u64,
) -> Result<(Rows, Vec<VolunteerDraft>), DbErr> {
    let Calendar { now, system_start, now_day, now_year, .. } = *calendar;
    let count = (300 + cases / 5_000).min(2_000) as usize;
    let mut by_weight: Vec<usize> = (0..kelurahan.len()).collect();
    by_weight.sort_by(|&a, &b| kelurahan[a].weight.total_cmp(&kelurahan[b].weight));
    let quiet = &by_weight[..kelurahan.len() / 2];
    let uncovered_count = if kelurahan.len() > 10 { 2 + rng.usize(..2) } else { 0 };
    let uncovered = rng.choose_multiple(quiet.iter().copied(), uncovered_count);
    let mut covered: Vec<usize> = (0..kelurahan.len()).filter(|k| !uncovered.contains(k)).collect();
    rng.shuffle(&mut covered);
    let mut covered_cumulative = Vec::with_capacity(covered.len());
    let mut total = 0.0;
    for &k in &covered {
        total += kelurahan[k].weight;
        covered_cumulative.push(total);
    }

    let mut rows = Rows::new(&VOLUNTEERS, count);
    let mut drafts: Vec<VolunteerDraft> = Vec::with_capacity(count);
    let longest_day = day_of(
        date(now_day)?
            .with_year(now_year - 30)
            .ok_or_else(|| DbErr::Custom("seed: no date thirty years back".into()))?,
    ) - rng.i64(0..120);
    for index in 0..count {
        let k = if index < covered.len() {
            covered[index]
        } else {
            let roll = rng.f64() * total;
            covered[covered_cumulative.partition_point(|&c| c <= roll).min(covered.len() - 1)]
        };
        let served_day = if index == 0 {
            longest_day
        } else {
            // A few recruited this year; the rest skewed to the last decade, some back to the 1990s.
            let days =
                if rng.u8(..100) < 8 { rng.i64(30..365) } else { ((1.0 + 29.0 * rng.f64().powf(2.0)) * 365.25) as i64 };
            (now_day - days).clamp(longest_day, now_day - 30)
        };
        let served = date(served_day)?;
        let tenure = now_year - served.year();
        let age_at_start = rng.i32(20..=(76 - tenure).clamp(20, 55));
        let birth_year = served.year() - age_at_start;
        let psks_type = if index == 0 {
            PsksType::CommunitySocialWorker
        } else {
            weighted(
                rng,
                &[
                    (PsksType::CommunitySocialWorker, 88),
                    (PsksType::SubdistrictSocialWelfareWorker, 3),
                    (PsksType::DisasterPreparednessCadet, 3),
                    (PsksType::YouthOrganisation, 2),
                    (PsksType::WomenWelfareLeader, 2),
                    (PsksType::CommunitySocialCounsellor, 2),
                ],
            )
        };
        let status = if index == 0 {
            VolunteerStatus::Active
        } else if tenure >= 20 {
            weighted(
                rng,
                &[(VolunteerStatus::Active, 65), (VolunteerStatus::Inactive, 10), (VolunteerStatus::Retired, 25)],
            )
        } else {
            weighted(
                rng,
                &[(VolunteerStatus::Active, 88), (VolunteerStatus::Inactive, 9), (VolunteerStatus::Retired, 3)],
            )
        };
        let served_start = day_start(served_day) + 9 * HOUR + rng.i64(0..2 * HOUR);
        let created = if served_start < system_start { system_start + rng.i64(0..14 * DAY) } else { served_start };
        let updated = if status == VolunteerStatus::Active { created } else { between(rng, created, now) };
        let gender = if rng.u8(..100) < 57 { Sex::Female } else { Sex::Male };
        let home = if rng.u8(..100) < 85 {
            k
        } else {
            let same_district: Vec<usize> =
                (0..kelurahan.len()).filter(|&other| kelurahan[other].district == kelurahan[k].district).collect();
            same_district.get(rng.usize(..same_district.len().max(1))).copied().unwrap_or(k)
        };
        let id = new_id(rng, created);
        let phone = (rng.u8(..100) < 96).then(|| phone(rng));
        rows.push([
            id.into(),
            full_name(rng, gender).into(),
            phone.into(),
            gender.as_str().into(),
            birth_year.into(),
            psks_type.as_str().into(),
            status.as_str().into(),
            served.into(),
            kelurahan[home].code.clone().into(),
            kelurahan[k].code.clone().into(),
            at(created)?,
            at(updated)?,
            record_key(keys),
        ])?;
        kelurahan[k].volunteers.push(index);
        drafts.push(VolunteerDraft {
            id,
            created,
            served_day,
            psm: psks_type == PsksType::CommunitySocialWorker,
            active: status == VolunteerStatus::Active,
        });
    }
    for k in kelurahan.iter_mut() {
        k.volunteers.sort_by_key(|&v| (drafts[v].created, v));
    }
    Ok((rows, drafts))
}

/// Attendance at the yearly Bimtek (175 PSM in November 2025) and at a few other courses.
fn trainings(
    rng: &mut Rng,
    drafts: &[VolunteerDraft],
    organisation_ids: &[Uuid],
    calendar: &Calendar,
) -> Result<Rows, DbErr> {
    let now_year = calendar.now_year;
    let mut courses = Vec::new();
    for year in (now_year - 9)..=now_year {
        courses.push(CourseSpec {
            title: format!("Bimbingan Teknis Pekerja Sosial Masyarakat Kota Banjarmasin {year}"),
            organiser: ORG_DINSOS,
            day: ymd(year, 11, 10 + (year.rem_euclid(5) as u32) * 3)?,
            hours: 24,
            attendees: if year == 2025 { 175 } else { 60 + rng.usize(..80) },
            active_only: year >= now_year - 1,
        });
    }
    for (title, organiser, (year, month, day), hours, attendees) in [
        ("Pelatihan Pendamping Penyandang Disabilitas", ORG_YSDB, (2021, 9, 14), 12, 35),
        ("Pelatihan Kesiapsiagaan Bencana Kebakaran dan Banjir", ORG_DINSOS, (2022, 10, 4), 16, 60),
        ("Pelatihan Perlindungan Anak Berbasis Masyarakat", ORG_LKSA, (2023, 5, 16), 12, 45),
        ("Pelatihan Pertolongan Pertama pada Lanjut Usia", ORG_PKM_PEKAUMAN, (2024, 7, 23), 8, 40),
        ("Sosialisasi Data Tunggal Sosial Ekonomi Nasional (DTSEN) bagi PSM", ORG_DINSOS, (2025, 3, 12), 6, 120),
    ] {
        courses.push(CourseSpec {
            title: title.to_owned(),
            organiser,
            day: ymd(year, month, day)?,
            hours,
            attendees,
            active_only: true,
        });
    }
    let mut trainings = Rows::new(&TRAINING_ATTENDANCES, 2_000);
    for course in courses.iter().filter(|course| course.day < calendar.now_day) {
        let eligible =
            drafts.iter().filter(|v| v.psm && v.served_day <= course.day && (v.active || !course.active_only));
        let mut attendees = rng.choose_multiple(eligible, course.attendees);
        attendees.sort_by_key(|v| v.created);
        for volunteer in attendees {
            let created = (day_start(course.day) + 17 * HOUR).max(volunteer.created);
            trainings.push([
                new_id(rng, created).into(),
                volunteer.id.into(),
                course.title.clone().into(),
                Some(organisation_ids[course.organiser]).into(),
                date(course.day)?.into(),
                course.hours.into(),
                at(created)?,
                at(created)?,
            ])?;
        }
    }
    Ok(trainings)
}

/// Awards, given on National Social Solidarity Day (HKSN, 20 December) and Heroes' Day (10 November).
fn awards(rng: &mut Rng, drafts: &[VolunteerDraft], calendar: &Calendar) -> Result<Rows, DbErr> {
    let Calendar { now_day, now_year, .. } = *calendar;
    let mut awards = Rows::new(&AWARDS, 200);
    let mut award =
        |rng: &mut Rng, volunteer: &VolunteerDraft, title: String, day: i64, by: &str| -> Result<(), DbErr> {
            let created = (day_start(day) + 14 * HOUR).max(volunteer.created);
            awards.push([
                new_id(rng, created).into(),
                volunteer.id.into(),
                title.into(),
                date(day)?.into(),
                by.into(),
                at(created)?,
                at(created)?,
            ])
        };
    for year in (now_year - 9)..=now_year {
        let hksn = ymd(year, 12, 20)?;
        if hksn < now_day {
            let eligible = drafts.iter().filter(|v| v.psm && v.active && v.served_day <= hksn - 730);
            for volunteer in rng.choose_multiple(eligible, 3) {
                award(
                    rng,
                    volunteer,
                    format!("PSM Teladan Kota Banjarmasin Tahun {year}"),
                    hksn,
                    "Wali Kota Banjarmasin",
                )?;
            }
        }
        let heroes = ymd(year, 11, 10)?;
        if year % 2 == 1 && heroes < now_day {
            let eligible = drafts.iter().filter(|v| v.psm && v.served_day <= heroes - 5 * 365);
            for volunteer in rng.choose_multiple(eligible, 1) {
                award(
                    rng,
                    volunteer,
                    format!("PSM Berprestasi Tingkat Provinsi Kalimantan Selatan Tahun {year}"),
                    heroes,
                    "Gubernur Kalimantan Selatan",
                )?;
            }
        }
    }
    for volunteer in drafts {
        // Tenure awards go out on the first HKSN after the anniversary.
        let served = date(volunteer.served_day)?;
        let first_hksn_year = served.year() + i32::from((served.month(), served.day()) > (12, 20));
        for years in [10, 20, 25] {
            let day = ymd(first_hksn_year + years, 12, 20)?;
            if day < now_day && rng.u8(..100) < 55 {
                award(
                    rng,
                    volunteer,
                    format!("Penghargaan Pengabdian {years} Tahun sebagai Pekerja Sosial Masyarakat"),
                    day,
                    "Dinas Sosial Kota Banjarmasin",
                )?;
            }
        }
    }
    Ok(awards)
}

/// The programmes that started by "now", the categories they are open to, and what cases need of them.
fn programmes(
    rng: &mut Rng,
    organisation_ids: &[Uuid],
    calendar: &Calendar,
) -> Result<(Rows, Rows, Vec<ProgrammeRef>), DbErr> {
    let Calendar { now, start, now_day, now_year, .. } = *calendar;
    let specs = programme_specs(rng, date(local_day(start))?.year(), now_year)?;
    let mut programmes = Rows::new(&PROGRAMMES, specs.len());
    let mut programme_categories = Rows::new(&PROGRAMME_CATEGORIES, specs.len() * 4);
    let mut programme_refs = Vec::with_capacity(specs.len());
    for spec in
        specs.into_iter().filter(|spec| spec.starts <= now_day && spec.ends.is_none_or(|ends| ends >= spec.starts))
    {
        let created = (day_start(spec.starts - 21) + 2 * HOUR).min(now);
        let id = new_id(rng, created);
        programmes.push([
            id.into(),
            spec.code.into(),
            spec.name.into(),
            spec.kind.as_str().into(),
            spec.description.into(),
            organisation_ids[spec.owner].into(),
            date(spec.starts)?.into(),
            spec.ends.map(date).transpose()?.into(),
            spec.target.into(),
            spec.budget_idr.into(),
            at(created)?,
            at(created)?,
        ])?;
        for category in spec.categories {
            programme_categories.push([id.into(), category.as_str().into()])?;
        }
        programme_refs.push(ProgrammeRef {
            id,
            kind: spec.kind,
            owner: spec.owner,
            from: day_start(spec.starts),
            until: spec.ends.map(|ends| day_start(ends + 1) - 1),
            categories: spec.categories,
        });
    }
    Ok((programmes, programme_categories, programme_refs))
}

// The categories programmes are open to.

const ELDERLY_ONLY: &[PpksCategory] = &[PpksCategory::NeglectedElderly];
const HOUSING: &[PpksCategory] = &[PpksCategory::UninhabitableHouse];
const DISABILITY: &[PpksCategory] = &[PpksCategory::PersonWithDisability, PpksCategory::ChildWithDisability];
const WOMEN: &[PpksCategory] = &[PpksCategory::EconomicallyVulnerableWoman];
const NONE: &[PpksCategory] = &[];
const ASSISTANCE: &[PpksCategory] = &[
    PpksCategory::Poor,
    PpksCategory::NeglectedElderly,
    PpksCategory::PersonWithDisability,
    PpksCategory::EconomicallyVulnerableWoman,
    PpksCategory::NeglectedChild,
];
const REGISTRY: &[PpksCategory] = &[
    PpksCategory::Poor,
    PpksCategory::NeglectedElderly,
    PpksCategory::PersonWithDisability,
    PpksCategory::EconomicallyVulnerableWoman,
    PpksCategory::UninhabitableHouse,
];
const CHILDREN: &[PpksCategory] = &[
    PpksCategory::NeglectedToddler,
    PpksCategory::NeglectedChild,
    PpksCategory::StreetChild,
    PpksCategory::ChildVictimOfViolence,
    PpksCategory::ChildNeedingSpecialProtection,
    PpksCategory::ChildInConflictWithLaw,
];
const DISASTER: &[PpksCategory] = &[PpksCategory::NaturalDisasterVictim, PpksCategory::SocialDisasterVictim];
const ZAKAT: &[PpksCategory] = &[PpksCategory::Poor, PpksCategory::EconomicallyVulnerableWoman];
const PSYCHOSOCIAL: &[PpksCategory] = &[
    PpksCategory::PsychosocialFamilyProblem,
    PpksCategory::ViolenceVictim,
    PpksCategory::FormerPrisoner,
    PpksCategory::SubstanceAbuseVictim,
    PpksCategory::Homeless,
    PpksCategory::Beggar,
    PpksCategory::Scavenger,
];

/// The programmes that ran from `first_year` (of the case window) to `now_year`.
fn programme_specs(rng: &mut Rng, first_year: i32, now_year: i32) -> Result<Vec<ProgrammeSpec>, DbErr> {
    let mut specs = Vec::new();
    for year in first_year..=now_year {
        let target = 100 + rng.i32(0..=10) * 10;
        specs.push(ProgrammeSpec {
            code: format!("RTLH-{year}"),
            name: format!("Rehabilitasi Rumah Tidak Layak Huni (RTLH) {year}"),
            kind: ProgrammeKind::HouseRehabilitation,
            description: "Bedah rumah tidak layak huni milik keluarga miskin: atap, lantai, dinding dan jamban sehat, Rp 20 juta per unit.",
            owner: ORG_DINSOS,
            starts: ymd(year, 2, 1)?,
            ends: Some(ymd(year, 12, 15)?),
            target,
            budget_idr: i64::from(target) * 20_000_000,
            categories: HOUSING,
        });
        let target = 1_500 + rng.i32(0..=10) * 100;
        specs.push(ProgrammeSpec {
            code: format!("BANSOS-{year}"),
            name: format!("Bantuan Sosial Daerah Kota Banjarmasin {year}"),
            kind: ProgrammeKind::SocialAssistance,
            description: "Bantuan sembako dan uang tunai dari APBD kota bagi warga rentan yang belum menerima bantuan pusat.",
            owner: ORG_DINSOS,
            starts: ymd(year, 1, 15)?,
            ends: Some(ymd(year, 12, 31)?),
            target,
            budget_idr: i64::from(target) * 1_200_000,
            categories: ASSISTANCE,
        });
        if year >= now_year - 1 {
            let day = ymd(year, 11, 10 + (year.rem_euclid(5) as u32) * 3)?;
            specs.push(ProgrammeSpec {
                code: format!("BIMTEK-PSM-{year}"),
                name: format!("Bimbingan Teknis Pekerja Sosial Masyarakat {year}"),
                kind: ProgrammeKind::Training,
                description: "Bimtek tiga hari bagi PSM: asesmen kasus, pendataan DTSEN, rujukan dan perlindungan data pribadi.",
                owner: ORG_DINSOS,
                starts: day,
                ends: Some(day + 2),
                target: 175,
                budget_idr: 175 * 1_500_000,
                categories: NONE,
            });
        }
        if year >= now_year - 2 {
            specs.push(ProgrammeSpec {
                code: format!("PRSE-{year}"),
                name: format!("Pelatihan Keterampilan Usaha Perempuan Rawan Sosial Ekonomi {year}"),
                kind: ProgrammeKind::Training,
                description: "Pelatihan menjahit, olahan pangan khas Banjar dan pemasaran daring, dengan bantuan modal usaha.",
                owner: ORG_DINSOS,
                starts: ymd(year, 5, 1)?,
                ends: Some(ymd(year, 10, 31)?),
                target: 60,
                budget_idr: 60 * 3_500_000,
                categories: WOMEN,
            });
        }
    }
    let first = ymd(first_year, 1, 1)?;
    let dtsen_start = ymd(2025, 2, 1)?.max(first);
    specs.push(ProgrammeSpec {
        code: "USULAN-DTKS".into(),
        name: "Usulan Data Terpadu Kesejahteraan Sosial (DTKS)".into(),
        kind: ProgrammeKind::DtsenProposal,
        description: "Pengusulan warga miskin dan rentan ke DTKS melalui aplikasi SIKS-NG, diverifikasi musyawarah kelurahan.",
        owner: ORG_DINSOS,
        starts: first,
        ends: Some(ymd(2025, 1, 31)?),
        target: 5_000,
        budget_idr: 150_000_000,
        categories: REGISTRY,
    });
    specs.push(ProgrammeSpec {
        code: "USULAN-DTSEN".into(),
        name: "Usulan Data Tunggal Sosial Ekonomi Nasional (DTSEN)".into(),
        kind: ProgrammeKind::DtsenProposal,
        description: "Pengusulan dan pemutakhiran warga miskin dan rentan ke DTSEN (Inpres 4/2025), ground check oleh PSM.",
        owner: ORG_DINSOS,
        starts: dtsen_start,
        ends: None,
        target: 8_000,
        budget_idr: 250_000_000,
        categories: REGISTRY,
    });
    specs.push(ProgrammeSpec {
        code: "TANGGAP-DARURAT".into(),
        name: "Tanggap Darurat Korban Kebakaran dan Banjir".into(),
        kind: ProgrammeKind::SocialAssistance,
        description: "Makanan siap saji, perlengkapan tidur dan santunan bagi korban kebakaran permukiman dan banjir rob.",
        owner: ORG_DINSOS,
        starts: first,
        ends: None,
        target: 1_000,
        budget_idr: 750_000_000,
        categories: DISASTER,
    });
    specs.push(ProgrammeSpec {
        code: "LANSIA-KB".into(),
        name: "Pendampingan Lanjut Usia Terlantar".into(),
        kind: ProgrammeKind::ElderlyAccompaniment,
        description: "Kunjungan rumah, pemeriksaan kesehatan dan permakanan bagi lansia yang hidup sendiri.",
        owner: ORG_LKS_ELDERLY,
        starts: first,
        ends: None,
        target: 300,
        budget_idr: 900_000_000,
        categories: ELDERLY_ONLY,
    });
    specs.push(ProgrammeSpec {
        code: "ATENSI-DISABILITAS".into(),
        name: "Asistensi Rehabilitasi Sosial (ATENSI) Penyandang Disabilitas".into(),
        kind: ProgrammeKind::DisabilitySupport,
        description: "Alat bantu (kursi roda, tongkat, alat bantu dengar), terapi dan pendampingan keluarga.",
        owner: ORG_YSDB,
        starts: first + 59,
        ends: None,
        target: 200,
        budget_idr: 600_000_000,
        categories: DISABILITY,
    });
    specs.push(ProgrammeSpec {
        code: "ASUH-ANAK".into(),
        name: "Pengasuhan dan Perlindungan Anak".into(),
        kind: ProgrammeKind::ChildProtection,
        description: "Pengasuhan alternatif, pendampingan psikososial dan akses sekolah bagi anak terlantar dan korban kekerasan.",
        owner: ORG_LKSA,
        starts: first,
        ends: None,
        target: 150,
        budget_idr: 450_000_000,
        categories: CHILDREN,
    });
    specs.push(ProgrammeSpec {
        code: "BEDAH-RUMAH-KT".into(),
        name: "Bedah Rumah Gotong Royong Karang Taruna".into(),
        kind: ProgrammeKind::HouseRehabilitation,
        description: "Perbaikan rumah warga oleh pemuda karang taruna dengan material dari donatur.",
        owner: ORG_KARANG_TARUNA,
        starts: first + 151,
        ends: None,
        target: 40,
        budget_idr: 400_000_000,
        categories: HOUSING,
    });
    specs.push(ProgrammeSpec {
        code: "ZAKAT-PRODUKTIF".into(),
        name: "Bantuan Zakat Produktif".into(),
        kind: ProgrammeKind::SocialAssistance,
        description: "Modal usaha kecil dan pendampingan bagi mustahik: pedagang pasar, warung dan usaha rumahan.",
        owner: ORG_BAZNAS,
        starts: first,
        ends: None,
        target: 500,
        budget_idr: 1_500_000_000,
        categories: ZAKAT,
    });
    specs.push(ProgrammeSpec {
        code: "PSIKOSOSIAL-YBP".into(),
        name: "Pendampingan Psikososial Keluarga Rentan".into(),
        kind: ProgrammeKind::SocialAssistance,
        description: "Konseling, mediasi keluarga dan pendampingan ke layanan bagi keluarga dengan masalah psikososial.",
        owner: ORG_YBP,
        starts: first,
        ends: None,
        target: 250,
        budget_idr: 300_000_000,
        categories: PSYCHOSOCIAL,
    });
    Ok(specs)
}

// ---------------------------------------------------------------------------------------------------------
// Persons and categories
// ---------------------------------------------------------------------------------------------------------

/// A PPKS category, the ages it applies to, and its weight among children (< 18), adults and the elderly
/// (60+); the weights make poverty, uninhabitable housing, neglected elderly and disability dominate.
struct CategoryWeight {
    category: PpksCategory,
    min_age: u32,
    max_age: u32,
    female_only: bool,
    weights: [u32; 3],
}

/// A category that applies to both sexes.
const fn cw(category: PpksCategory, min_age: u32, max_age: u32, weights: [u32; 3]) -> CategoryWeight {
    CategoryWeight { category, min_age, max_age, female_only: false, weights }
}

/// Every category with its ages and weights.
const CATEGORY_WEIGHTS: &[CategoryWeight] = &[
    cw(PpksCategory::NeglectedToddler, 0, 4, [40, 0, 0]),
    cw(PpksCategory::NeglectedChild, 5, 17, [35, 0, 0]),
    cw(PpksCategory::ChildInConflictWithLaw, 12, 17, [8, 0, 0]),
    cw(PpksCategory::StreetChild, 6, 17, [12, 0, 0]),
    cw(PpksCategory::ChildWithDisability, 0, 17, [20, 0, 0]),
    cw(PpksCategory::ChildVictimOfViolence, 0, 17, [12, 0, 0]),
    cw(PpksCategory::ChildNeedingSpecialProtection, 0, 17, [10, 0, 0]),
    cw(PpksCategory::NeglectedElderly, 60, 130, [0, 0, 400]),
    cw(PpksCategory::PersonWithDisability, 18, 130, [0, 110, 70]),
    cw(PpksCategory::SexWorker, 18, 59, [0, 4, 0]),
    cw(PpksCategory::Homeless, 18, 130, [0, 14, 6]),
    cw(PpksCategory::Beggar, 18, 130, [0, 14, 10]),
    cw(PpksCategory::Scavenger, 18, 130, [0, 22, 6]),
    cw(PpksCategory::MinorityGroup, 0, 130, [1, 2, 1]),
    cw(PpksCategory::FormerPrisoner, 18, 130, [0, 12, 1]),
    cw(PpksCategory::PersonLivingWithHiv, 18, 130, [0, 8, 1]),
    cw(PpksCategory::SubstanceAbuseVictim, 15, 130, [2, 12, 0]),
    cw(PpksCategory::TraffickingVictim, 12, 59, [2, 3, 0]),
    cw(PpksCategory::ViolenceVictim, 18, 130, [0, 25, 5]),
    cw(PpksCategory::TroubledMigrantWorker, 18, 59, [0, 6, 0]),
    cw(PpksCategory::NaturalDisasterVictim, 0, 130, [6, 20, 12]),
    cw(PpksCategory::SocialDisasterVictim, 0, 130, [6, 25, 12]),
    CategoryWeight {
        category: PpksCategory::EconomicallyVulnerableWoman,
        min_age: 18,
        max_age: 59,
        female_only: true,
        weights: [0, 70, 0],
    },
    cw(PpksCategory::Poor, 0, 130, [25, 300, 150]),
    cw(PpksCategory::PsychosocialFamilyProblem, 0, 130, [5, 35, 5]),
    cw(PpksCategory::RemoteIndigenousCommunity, 0, 130, [0, 1, 0]),
    cw(PpksCategory::UninhabitableHouse, 0, 130, [10, 220, 130]),
];

/// A category that fits a person of `age` and `sex` and is not in `taken`, by weight.
fn pick_category(rng: &mut Rng, age: u32, sex: Sex, taken: &[PpksCategory]) -> Option<PpksCategory> {
    let band = if age < 18 {
        0
    } else if age < 60 {
        1
    } else {
        2
    };
    let weight = |c: &CategoryWeight| {
        if age >= c.min_age
            && age <= c.max_age
            && (!c.female_only || sex == Sex::Female)
            && !taken.contains(&c.category)
        {
            c.weights[band]
        } else {
            0
        }
    };
    let total: u32 = CATEGORY_WEIGHTS.iter().map(weight).sum();
    if total == 0 {
        return None;
    }
    let mut roll = rng.u32(..total);
    for c in CATEGORY_WEIGHTS {
        let w = weight(c);
        if roll < w {
            return Some(c.category);
        }
        roll -= w;
    }
    None
}

/// One to three categories for a person of `age` and `sex`; the first is the primary one.
fn categories(rng: &mut Rng, age: u32, sex: Sex) -> Result<Vec<PpksCategory>, DbErr> {
    let mut chosen = Vec::with_capacity(3);
    let first = pick_category(rng, age, sex, &chosen)
        .ok_or_else(|| DbErr::Custom(format!("seed: no category fits age {age}")))?;
    chosen.push(first);
    if rng.u8(..100) < 40
        && let Some(second) = pick_category(rng, age, sex, &chosen)
    {
        chosen.push(second);
        if rng.u8(..100) < 30
            && let Some(third) = pick_category(rng, age, sex, &chosen)
        {
            chosen.push(third);
        }
    }
    Ok(chosen)
}

/// How a disability is described on the person's record, when the case is about one.
fn disability(rng: &mut Rng, categories: &[PpksCategory], age: u32) -> Option<&'static str> {
    const KINDS: &[&str] = &[
        "Disabilitas fisik",
        "Disabilitas fisik (pengguna kursi roda)",
        "Disabilitas sensorik netra",
        "Disabilitas sensorik rungu wicara",
        "Disabilitas intelektual",
        "Disabilitas mental (psikososial)",
        "Disabilitas ganda",
    ];
    let disabled =
        categories.iter().any(|c| matches!(c, PpksCategory::PersonWithDisability | PpksCategory::ChildWithDisability));
    if disabled {
        Some(pick(rng, KINDS))
    } else if age >= 70 && rng.u8(..100) < 8 {
        Some("Disabilitas fisik (sulit berjalan)")
    } else {
        None
    }
}

/// The Indonesian name of a category, as a case summary would say it.
fn category_label(category: PpksCategory) -> &'static str {
    match category {
        PpksCategory::NeglectedToddler => "Anak balita terlantar",
        PpksCategory::NeglectedChild => "Anak terlantar",
        PpksCategory::ChildInConflictWithLaw => "Anak berhadapan dengan hukum",
        PpksCategory::StreetChild => "Anak jalanan",
        PpksCategory::ChildWithDisability => "Anak dengan disabilitas",
        PpksCategory::ChildVictimOfViolence => "Anak korban tindak kekerasan",
        PpksCategory::ChildNeedingSpecialProtection => "Anak yang memerlukan perlindungan khusus",
        PpksCategory::NeglectedElderly => "Lanjut usia terlantar",
        PpksCategory::PersonWithDisability => "Penyandang disabilitas",
        PpksCategory::SexWorker => "Tuna susila",
        PpksCategory::Homeless => "Gelandangan",
        PpksCategory::Beggar => "Pengemis",
        PpksCategory::Scavenger => "Pemulung",
        PpksCategory::MinorityGroup => "Kelompok minoritas",
        PpksCategory::FormerPrisoner => "Bekas warga binaan lembaga pemasyarakatan",
        PpksCategory::PersonLivingWithHiv => "Orang dengan HIV/AIDS",
        PpksCategory::SubstanceAbuseVictim => "Korban penyalahgunaan NAPZA",
        PpksCategory::TraffickingVictim => "Korban perdagangan orang",
        PpksCategory::ViolenceVictim => "Korban tindak kekerasan",
        PpksCategory::TroubledMigrantWorker => "Pekerja migran bermasalah sosial",
        PpksCategory::NaturalDisasterVictim => "Korban bencana alam",
        PpksCategory::SocialDisasterVictim => "Korban bencana sosial",
        PpksCategory::EconomicallyVulnerableWoman => "Perempuan rawan sosial ekonomi",
        PpksCategory::Poor => "Fakir miskin",
        PpksCategory::PsychosocialFamilyProblem => "Keluarga bermasalah sosial psikologis",
        PpksCategory::RemoteIndigenousCommunity => "Komunitas adat terpencil",
        PpksCategory::UninhabitableHouse => "Rumah tidak layak huni",
    }
}

/// What the reporter wrote about the case.
fn summary(rng: &mut Rng, primary: PpksCategory, age: u32, kelurahan: &str) -> String {
    let household = 2 + rng.u32(..6);
    let variant = rng.u8(..3);
    match (primary, variant) {
        (PpksCategory::Poor, 0) => {
            format!(
                "Keluarga {household} jiwa tanpa penghasilan tetap; kepala keluarga bekerja serabutan sebagai buruh harian."
            )
        }
        (PpksCategory::Poor, 1) => format!(
            "Pedagang kecil di pasar, penghasilan tidak menentu, menanggung {household} jiwa; belum menerima bantuan sosial."
        ),
        (PpksCategory::Poor, _) => {
            "Kepala keluarga sakit dan tidak bekerja, kebutuhan pangan sehari-hari dibantu tetangga.".into()
        }
        (PpksCategory::UninhabitableHouse, 0) => format!(
            "Rumah panggung kayu di bantaran sungai, atap bocor dan lantai ulin lapuk; dihuni {household} jiwa."
        ),
        (PpksCategory::UninhabitableHouse, 1) => {
            "Dinding papan bekas dan atap rumbia rusak, tidak ada jamban sehat; rumah miring ke arah sungai.".into()
        }
        (PpksCategory::UninhabitableHouse, _) => {
            format!("Rumah sewa sempit {household} jiwa, tiang rumah keropos dan sering terendam air pasang.")
        }
        (PpksCategory::NeglectedElderly, 0) => {
            format!("Lansia {age} tahun tinggal sendiri, tidak ada keluarga yang merawat.")
        }
        (PpksCategory::NeglectedElderly, 1) => {
            format!("Lansia {age} tahun sakit menahun, makan sehari-hari bergantung pada tetangga.")
        }
        (PpksCategory::NeglectedElderly, _) => {
            format!("Lansia {age} tahun ditinggal anak merantau, tidak mampu lagi bekerja.")
        }
        (PpksCategory::PersonWithDisability, 0) => {
            "Penyandang disabilitas fisik membutuhkan kursi roda dan pendampingan keluarga.".into()
        }
        (PpksCategory::PersonWithDisability, _) => {
            format!("Penyandang disabilitas usia {age} tahun, belum memiliki kartu disabilitas dan tidak bekerja.")
        }
        (PpksCategory::EconomicallyVulnerableWoman, _) => {
            format!("Ibu tunggal menanggung {household} anak usia sekolah, berjualan kue keliling.")
        }
        (PpksCategory::SocialDisasterVictim, _) => {
            "Rumah habis terbakar dalam kebakaran permukiman, keluarga mengungsi di rumah kerabat.".into()
        }
        (PpksCategory::NaturalDisasterVictim, _) => {
            "Rumah terendam banjir rob berhari-hari, perabot dan dokumen kependudukan rusak.".into()
        }
        _ => format!(
            "{} usia {age} tahun di Kelurahan {kelurahan}, membutuhkan asesmen dan pendampingan.",
            category_label(primary)
        ),
    }
}

/// A Banjarmasin address in `kelurahan`.
fn address(rng: &mut Rng, kelurahan: &str) -> String {
    const GANG: &[&str] = &[
        "Hidayah",
        "Berkat",
        "Amal",
        "Mufakat",
        "Rukun",
        "Sepakat",
        "Keluarga",
        "Damai",
        "Kenanga",
        "Melati",
        "Mawar",
        "Sejahtera",
        "Al-Falah",
        "Nurul Iman",
        "Rahmat",
        "Subur",
        "Karya Bersama",
        "Pinang",
        "Rambai",
        "Kuini",
    ];
    let rt = 1 + rng.u32(..40);
    let number = 1 + rng.u32(..120);
    if rng.u8(..100) < 75 {
        format!("Jl. {kelurahan} Gg. {} RT {rt:03} No. {number}", pick(rng, GANG))
    } else {
        format!("Komp. {} Blok {} No. {number} RT {rt:03}, Kel. {kelurahan}", pick(rng, GANG), rng.uppercase())
    }
}

/// A 16-digit NIK: 63 71 (Kota Banjarmasin), the kecamatan, the birth date (day + 40 for women) and a
/// serial number, unique among the NIKs drawn so far (`used`): the database allows one registered person
/// per NIK. A drawn serial already taken moves on to the next free one, drawing nothing more, so the
/// random stream (and every other record of the demo data) stays as it was.
pub fn nik(rng: &mut Rng, used: &mut HashSet<u64>, district: &str, birth: NaiveDate, sex: Sex) -> String {
    let day = birth.day() + if sex == Sex::Female { 40 } else { 0 };
    let drawn = rng.u32(..9_999);
    let prefix = format!("6371{district}{day:02}{:02}{:02}", birth.month(), birth.year().rem_euclid(100));
    let number = |serial: u32| format!("{prefix}{serial:04}");
    for step in 0..9_999 {
        let candidate = number(1 + (drawn + step) % 9_999);
        if candidate.parse().is_ok_and(|value| used.insert(value)) {
            return candidate;
        }
    }
    number(1 + drawn)
}

// ---------------------------------------------------------------------------------------------------------
// Cases, in chunks
// ---------------------------------------------------------------------------------------------------------

/// The random stream, the world and "now", shared by everything the generator does.
struct Gen {
    rng: Rng,
    /// The stream the record keys are drawn from.
    keys: Rng,
    world: World,
    now: i64,
    /// Every NIK drawn so far, as a number (see [`nik`]).
    niks: HashSet<u64>,
}

impl Gen {
    /// The first office moment (08:00-16:00 WITA, Monday to Friday) at or after `t`.
    fn office(&mut self, t: i64) -> i64 {
        let local = t + WITA;
        let mut day = local.div_euclid(DAY);
        let mut second = local.rem_euclid(DAY);
        if second < 8 * HOUR {
            second = 8 * HOUR + self.rng.i64(0..2 * HOUR);
        } else if second >= 16 * HOUR {
            day += 1;
            second = 8 * HOUR + self.rng.i64(0..2 * HOUR);
        }
        match weekday(day) {
            5 => {
                day += 2;
                second = 8 * HOUR + self.rng.i64(0..2 * HOUR);
            }
            6 => {
                day += 1;
                second = 8 * HOUR + self.rng.i64(0..2 * HOUR);
            }
            _ => {}
        }
        day * DAY + second - WITA
    }

    /// The first office moment after a delay of `low` to `high` seconds from `t`.
    fn office_after(&mut self, t: i64, low: i64, high: i64) -> i64 {
        let delay = between(&mut self.rng, low, high);
        self.office(t + delay)
    }

    /// A kelurahan, the busy ones far more often.
    fn kelurahan(&mut self) -> usize {
        let total = self.world.cumulative.last().copied().unwrap_or(0.0);
        let roll = self.rng.f64() * total;
        self.world.cumulative.partition_point(|&c| c <= roll).min(self.world.kelurahan.len() - 1)
    }

    /// The partner a case of `primary` category in kecamatan `district` is referred to.
    fn partner(&mut self, primary: PpksCategory, district: &str) -> usize {
        let puskesmas = if matches!(district, "01" | "02" | "05") { ORG_PKM_PEKAUMAN } else { ORG_PKM_TELUK_TIRAM };
        // The kecamatan and kelurahan offices among the partners take cases of their own area only.
        let local_office = match district {
            "04" => ORG_KECAMATAN,
            "01" => ORG_KELURAHAN,
            _ => ORG_YBP,
        };
        let rng = &mut self.rng;
        match primary {
            PpksCategory::NeglectedElderly => weighted(rng, &[(ORG_LKS_ELDERLY, 5), (puskesmas, 2), (ORG_YBP, 1)]),
            PpksCategory::PersonWithDisability | PpksCategory::ChildWithDisability => {
                weighted(rng, &[(ORG_YSDB, 5), (puskesmas, 2)])
            }
            PpksCategory::NeglectedToddler
            | PpksCategory::NeglectedChild
            | PpksCategory::StreetChild
            | PpksCategory::ChildVictimOfViolence
            | PpksCategory::ChildNeedingSpecialProtection
            | PpksCategory::ChildInConflictWithLaw => weighted(rng, &[(ORG_LKSA, 5), (ORG_YBP, 1)]),
            PpksCategory::UninhabitableHouse => {
                weighted(rng, &[(ORG_PRLB, 4), (ORG_KARANG_TARUNA, 2), (ORG_BAZNAS, 2)])
            }
            PpksCategory::Poor | PpksCategory::EconomicallyVulnerableWoman => {
                weighted(rng, &[(ORG_BAZNAS, 4), (ORG_YBP, 2), (local_office, 2)])
            }
            PpksCategory::PersonLivingWithHiv | PpksCategory::SubstanceAbuseVictim => {
                weighted(rng, &[(puskesmas, 4), (ORG_YBP, 2)])
            }
            PpksCategory::NaturalDisasterVictim | PpksCategory::SocialDisasterVictim => {
                weighted(rng, &[(ORG_KARANG_TARUNA, 3), (ORG_BAZNAS, 2), (ORG_YBP, 1)])
            }
            _ => weighted(rng, &[(ORG_YBP, 4), (local_office, 2)]),
        }
    }

    /// A programme running at `t`, open to one of `categories`, owned by `owner`, not in `taken`.
    fn programme(&mut self, categories: &[PpksCategory], t: i64, owner: usize, taken: &[usize]) -> Option<usize> {
        let fits = |(index, p): &(usize, &ProgrammeRef)| {
            p.owner == owner
                && p.from <= t
                && p.until.is_none_or(|until| t <= until)
                && !taken.contains(index)
                && p.categories.iter().any(|c| categories.contains(c))
        };
        let count = self.world.programmes.iter().enumerate().filter(fits).count();
        if count == 0 {
            return None;
        }
        let chosen = self.rng.usize(..count);
        self.world.programmes.iter().enumerate().filter(fits).nth(chosen).map(|(index, _)| index)
    }

    /// Appends a consent row; sometimes it expires, sometimes it was revoked. True when it was not revoked.
    fn consent(&mut self, rows: &mut ChunkRows, draft: ConsentDraft) -> Result<bool, DbErr> {
        let given = draft.given;
        let expires = if self.rng.u8(..100) < draft.expiry_percent {
            let days = if self.rng.bool() { 365 } else { 730 };
            Some(given + days * DAY)
        } else {
            None
        };
        let revoked = if self.rng.u8(..100) < draft.revoked_percent {
            let latest = expires.unwrap_or(self.now).min(self.now);
            Some(between(&mut self.rng, given, latest))
        } else {
            None
        };
        rows.consents.push([
            new_id(&mut self.rng, given).into(),
            draft.person.into(),
            draft.scope.as_str().into(),
            draft.partner.map(|p| self.world.organisations[p]).into(),
            draft.given_by.as_str().into(),
            at(given)?,
            at_opt(expires)?,
            at_opt(revoked)?,
            at(given)?,
            at(revoked.unwrap_or(given))?,
        ])?;
        Ok(revoked.is_none())
    }
}

/// A consent to record: whose, for what, for which partner (`None`: every partner), by whom, when, and the
/// chances (in percent) that it has an expiry and that it was revoked.
struct ConsentDraft {
    person: Uuid,
    scope: ConsentScope,
    partner: Option<usize>,
    given_by: ConsentGiver,
    given: i64,
    expiry_percent: u8,
    revoked_percent: u8,
}

/// One chunk of generated cases, as statements in foreign-key order.
struct Chunk {
    statements: Vec<Statement>,
    report: SeedReport,
    cases: u64,
}

/// The rows of one chunk, per table.
struct ChunkRows {
    persons: Rows,
    cases: Rows,
    case_categories: Rows,
    status_changes: Rows,
    referrals: Rows,
    referral_events: Rows,
    enrollments: Rows,
    outcomes: Rows,
    consents: Rows,
}

impl ChunkRows {
    /// Empty rows, sized for `cases` cases.
    fn new(cases: usize) -> Self {
        ChunkRows {
            persons: Rows::new(&PERSONS, cases),
            cases: Rows::new(&CASES, cases),
            case_categories: Rows::new(&CASE_CATEGORIES, cases * 3 / 2),
            status_changes: Rows::new(&CASE_STATUS_CHANGES, cases * 4),
            referrals: Rows::new(&REFERRALS, cases / 3),
            referral_events: Rows::new(&REFERRAL_EVENTS, cases * 2 / 3),
            enrollments: Rows::new(&ENROLLMENTS, cases / 2),
            outcomes: Rows::new(&OUTCOMES, cases * 3 / 4),
            consents: Rows::new(&CONSENTS, cases * 2),
        }
    }

    /// The statements inserting these rows, parents before children, and their counts.
    fn into_chunk(self, sql: &mut InsertSql, cases: u64) -> Result<Chunk, DbErr> {
        let report = SeedReport {
            persons: self.persons.len(),
            cases: self.cases.len(),
            referrals: self.referrals.len(),
            enrollments: self.enrollments.len(),
            outcomes: self.outcomes.len(),
            consents: self.consents.len(),
            status_changes: self.status_changes.len(),
            referral_events: self.referral_events.len(),
            ..SeedReport::default()
        };
        let mut statements = Vec::new();
        for rows in [
            self.persons,
            self.cases,
            self.case_categories,
            self.status_changes,
            self.referrals,
            self.referral_events,
            self.enrollments,
            self.outcomes,
            self.consents,
        ] {
            rows.into_statements(sql, &mut statements)?;
        }
        Ok(Chunk { statements, report, cases })
    }
}

/// A person of the current chunk (a few persons come back with a second case).
struct PersonInfo {
    id: Uuid,
    birth: NaiveDate,
    sex: Sex,
    kelurahan: usize,
    /// Whether the person consented to sharing with every partner (and has not revoked it).
    shares_with_partners: bool,
}

/// Generates the cases, chunk by chunk, on a blocking thread.
struct CaseGenerator {
    state: Gen,
    /// INSERT statements already built, by table and row count.
    sql: InsertSql,
    total: u64,
    done: u64,
    /// The last reference number used per (WITA) year.
    year_sequence: HashMap<i32, u32>,
}

impl CaseGenerator {
    /// Sends chunks until every case is generated, the receiver is gone, or generation failed.
    fn run(mut self, sender: &tokio::sync::mpsc::Sender<Result<Chunk, DbErr>>) {
        while self.done < self.total {
            let chunk = self.chunk();
            let failed = chunk.is_err();
            if sender.blocking_send(chunk).is_err() || failed {
                return;
            }
        }
    }

    /// The next chunk of cases, in the order they were opened.
    fn chunk(&mut self) -> Result<Chunk, DbErr> {
        let count = CHUNK_CASES.min(self.total - self.done);
        let mut opened: Vec<i64> = (self.done..self.done + count).map(|index| self.opened_at(index)).collect();
        opened.sort_unstable();
        let mut rows = ChunkRows::new(count as usize);
        let mut persons: Vec<PersonInfo> = Vec::with_capacity(count as usize);
        for t in opened {
            self.case(t, &mut persons, &mut rows)?;
        }
        self.done += count;
        rows.into_chunk(&mut self.sql, count)
    }

    /// When case number `index` (of `total`, in time order) was opened: more cases every year, mostly on
    /// weekdays in office hours.
    fn opened_at(&mut self, index: u64) -> i64 {
        let g = &mut self.state;
        let quantile = (index as f64 + g.rng.f64()) / self.total as f64;
        // Density growing linearly from 1 to 2 over the window: F(x) = (x + x^2 / 2) / 1.5.
        let x = (1.0 + 3.0 * quantile).sqrt() - 1.0;
        let mut day = local_day(g.world.start) + (x * CASE_WINDOW_DAYS as f64) as i64;
        // Most weekend reports are filed on a weekday of the same week instead.
        let weekday_of_day = weekday(day);
        if weekday_of_day >= 5 && g.rng.u8(..100) < 75 {
            day -= weekday_of_day - g.rng.i64(0..5);
        }
        let second = if g.rng.u8(..100) < 88 { 8 * HOUR + g.rng.i64(0..8 * HOUR) } else { g.rng.i64(0..DAY) };
        (day_start(day) + second).max(g.world.start).min(g.now - 60)
    }

    /// Generates one case opened at `opened`, with its person (new, or one from earlier in the chunk) and
    /// everything that happened to it up to "now".
    fn case(&mut self, opened: i64, persons: &mut Vec<PersonInfo>, rows: &mut ChunkRows) -> Result<(), DbErr> {
        let g = &mut self.state;
        let returning = !persons.is_empty() && g.rng.u8(..100) < 6;
        let (person, categories_now) = if returning {
            let index = g.rng.usize(..persons.len());
            let person = &persons[index];
            let age = age_on(person.birth, date(local_day(opened))?);
            (index, categories(&mut g.rng, age, person.sex)?)
        } else {
            (persons.len(), new_person(g, opened, persons, rows)?)
        };
        self.case_of(opened, person, categories_now, persons, rows)
    }

    /// Generates the case of `persons[person]` in `categories`, opened at `opened`.
    fn case_of(
        &mut self,
        opened: i64,
        person: usize,
        categories: Vec<PpksCategory>,
        persons: &mut [PersonInfo],
        rows: &mut ChunkRows,
    ) -> Result<(), DbErr> {
        let g = &mut self.state;
        let info = persons.get_mut(person).ok_or_else(|| DbErr::Custom("seed: person of a case is missing".into()))?;
        let kelurahan = info.kelurahan;
        let primary = categories[0];
        let age = age_on(info.birth, date(local_day(opened))?);
        let id = new_id(&mut g.rng, opened);

        // Who reported it: a volunteer covering the kelurahan, for PSM visits; staff otherwise, mostly.
        let k = &g.world.kelurahan[kelurahan];
        let on_record = k.volunteers.partition_point(|&v| g.world.volunteers[v].from <= opened);
        let mut source = weighted(
            &mut g.rng,
            &[
                (CaseSource::PsmVisit, 60),
                (CaseSource::WalkIn, 14),
                (CaseSource::Hotline, 12),
                (CaseSource::KelurahanMeeting, 14),
            ],
        );
        if source == CaseSource::PsmVisit && on_record == 0 {
            source = weighted(
                &mut g.rng,
                &[(CaseSource::WalkIn, 40), (CaseSource::Hotline, 30), (CaseSource::KelurahanMeeting, 30)],
            );
        }
        let volunteer_share = match source {
            CaseSource::PsmVisit => 100,
            CaseSource::KelurahanMeeting => 50,
            CaseSource::WalkIn => 15,
            CaseSource::Hotline => 0,
        };
        let reporter = (on_record > 0 && g.rng.u8(..100) < volunteer_share)
            .then(|| g.world.volunteers[k.volunteers[g.rng.usize(..on_record)]].id);
        let urgent = categories.iter().any(|c| {
            matches!(
                c,
                PpksCategory::NaturalDisasterVictim
                    | PpksCategory::SocialDisasterVictim
                    | PpksCategory::ChildVictimOfViolence
                    | PpksCategory::ViolenceVictim
                    | PpksCategory::TraffickingVictim
            )
        });
        let urgency = if urgent {
            weighted(
                &mut g.rng,
                &[(Urgency::Low, 3), (Urgency::Normal, 27), (Urgency::High, 45), (Urgency::Emergency, 25)],
            )
        } else {
            weighted(
                &mut g.rng,
                &[(Urgency::Low, 16), (Urgency::Normal, 59), (Urgency::High, 21), (Urgency::Emergency, 4)],
            )
        };
        let year = date(local_day(opened))?.year();
        let sequence = self.year_sequence.entry(year).or_insert(0);
        *sequence += 1;
        let reference = format!("PSM-{year}-{sequence:06}");
        let summary = summary(&mut g.rng, primary, age, &k.name);
        let kelurahan_code = k.code.clone();
        let district = k.district.clone();

        let mut sim = CaseSim {
            id,
            person: info.id,
            opened,
            primary,
            categories: &categories,
            district,
            reporter,
            elderly: age >= 60,
            status: CaseStatus::New,
            version: 0,
            last_change: opened,
            closed: None,
            referrals: 0,
            reopened: false,
            enrollments: Vec::new(),
            completed_referral: None,
            shares_with_partners: info.shares_with_partners,
        };
        sim.run(g, rows)?;
        info.shares_with_partners = sim.shares_with_partners;
        for enrollment in &sim.enrollments {
            let programme = &g.world.programmes[enrollment.programme];
            let (status, exited, reason) = match enrollment.exit {
                Some((exited, status, reason)) => (status, Some(exited), reason),
                None => (EnrollmentStatus::Enrolled, None, None),
            };
            rows.enrollments.push([
                enrollment.id.into(),
                programme.id.into(),
                id.into(),
                status.as_str().into(),
                at(enrollment.enrolled)?,
                at_opt(exited)?,
                reason.map(str::to_owned).into(),
                at(enrollment.enrolled)?,
                at(exited.unwrap_or(enrollment.enrolled))?,
                record_key(&mut g.keys),
            ])?;
        }
        rows.cases.push([
            id.into(),
            reference.into(),
            sim.person.into(),
            reporter.into(),
            kelurahan_code.into(),
            urgency.as_str().into(),
            source.as_str().into(),
            sim.status.as_str().into(),
            summary.into(),
            at(opened)?,
            at_opt(sim.closed.map(|(t, _)| t))?,
            sim.closed.map(|(_, reason)| reason.as_str().to_owned()).into(),
            sim.version.into(),
            at(opened)?,
            at(sim.last_change)?,
            record_key(&mut g.keys),
        ])?;
        for category in &categories {
            rows.case_categories.push([id.into(), category.as_str().into()])?;
        }
        Ok(())
    }
}

/// Appends a new person, first seen in a case opened at `opened`, with the consents they gave then;
/// returns the categories of that case.
fn new_person(
    g: &mut Gen,
    opened: i64,
    persons: &mut Vec<PersonInfo>,
    rows: &mut ChunkRows,
) -> Result<Vec<PpksCategory>, DbErr> {
    let kelurahan = g.kelurahan();
    let band = weighted(&mut g.rng, &[(0u8, 15), (1, 55), (2, 30)]);
    let target_age = match band {
        0 => g.rng.i64(0..18),
        1 => g.rng.i64(18..60),
        _ => 60 + (35.0 * g.rng.f64().powf(1.6)) as i64,
    };
    let sex = match (band, g.rng.u8(..100)) {
        (2, roll) if roll < 60 => Sex::Female,
        (2, _) => Sex::Male,
        (_, roll) if roll < 52 => Sex::Female,
        _ => Sex::Male,
    };
    // Far enough back for exactly `target_age` whole years on the day the case opened.
    let birth = date(local_day(opened) - (target_age * 365 + target_age / 4 + 2 + g.rng.i64(0..=358)))?;
    let age = age_on(birth, date(local_day(opened))?);
    let id = new_id(&mut g.rng, opened);
    let k = &g.world.kelurahan[kelurahan];
    let nik = (g.rng.u8(..100) >= 3).then(|| nik(&mut g.rng, &mut g.niks, &k.district, birth, sex));
    let phone = (age >= 17 && g.rng.u8(..100) < 55).then(|| phone(&mut g.rng));
    let name = full_name(&mut g.rng, sex);
    let address = address(&mut g.rng, &k.name);
    let code = k.code.clone();
    let categories = categories(&mut g.rng, age, sex)?;
    let disability = disability(&mut g.rng, &categories, age);
    rows.persons.push([
        id.into(),
        name.into(),
        nik.into(),
        birth.into(),
        sex.as_str().into(),
        disability.map(str::to_owned).into(),
        address.into(),
        phone.into(),
        code.into(),
        at(opened)?,
        at(opened)?,
    ])?;

    let given_by = if age < 18 || (age >= 75 && g.rng.u8(..100) < 20) {
        ConsentGiver::Guardian
    } else {
        ConsentGiver::DataSubject
    };
    let draft = |scope, expiry_percent, revoked_percent| ConsentDraft {
        person: id,
        scope,
        partner: None,
        given_by,
        given: opened,
        expiry_percent,
        revoked_percent,
    };
    if g.rng.u8(..100) < 92 {
        g.consent(rows, draft(ConsentScope::Services, 0, 1))?;
    }
    if g.rng.u8(..100) < 70 {
        g.consent(rows, draft(ConsentScope::Reporting, 0, 1))?;
    }
    let shares_with_partners =
        g.rng.u8(..100) < 35 && g.consent(rows, draft(ConsentScope::ShareWithPartners, 40, 3))?;
    persons.push(PersonInfo { id, birth, sex, kelurahan, shares_with_partners });
    Ok(categories)
}

/// What a case does next in the simulation of its life.
enum Next {
    /// Starts (or resumes) service by Dinsos at the instant.
    Serve(i64),
    /// Is referred to a partner at the instant.
    Refer(i64),
    /// Is closed at the instant, for the reason.
    Close(i64, ClosureReason),
    /// Nothing more happens before "now".
    Done,
}

/// An enrollment of the case being simulated.
struct EnrollmentDraft {
    id: Uuid,
    programme: usize,
    enrolled: i64,
    /// Exit instant, status and reason, once it ended.
    exit: Option<(i64, EnrollmentStatus, Option<&'static str>)>,
    /// Whether it ends when the case closes (Dinsos's own), or with the referral (a partner's).
    ends_with_case: bool,
}

/// The life of one case, simulated from its opening up to "now".
struct CaseSim<'a> {
    id: Uuid,
    person: Uuid,
    opened: i64,
    primary: PpksCategory,
    categories: &'a [PpksCategory],
    district: String,
    reporter: Option<Uuid>,
    elderly: bool,
    status: CaseStatus,
    version: i32,
    last_change: i64,
    closed: Option<(i64, ClosureReason)>,
    referrals: u32,
    reopened: bool,
    enrollments: Vec<EnrollmentDraft>,
    /// The referral that completed, and the partner that completed it.
    completed_referral: Option<(Uuid, usize)>,
    shares_with_partners: bool,
}

impl CaseSim<'_> {
    /// Runs the case's life: opening, assessment, then service, referral and closing until "now".
    fn run(&mut self, g: &mut Gen, rows: &mut ChunkRows) -> Result<(), DbErr> {
        let opener = match self.reporter {
            Some(volunteer) => format!("volunteer:{volunteer}"),
            None => DINSOS_ACTOR.to_owned(),
        };
        self.change(g, rows, CaseStatus::New, self.opened, opener, None)?;
        let delay = skewed(&mut g.rng, 2 * HOUR, 10 * DAY, 2.0);
        let assessed = g.office(self.opened + delay);
        if assessed > g.now {
            return Ok(());
        }
        self.change(g, rows, CaseStatus::Assessment, assessed, DINSOS_ACTOR.to_owned(), None)?;
        let mut next = self.after_assessment(g, assessed);
        loop {
            next = match next {
                Next::Done => return Ok(()),
                Next::Serve(t) => self.serve(g, rows, t)?,
                Next::Refer(t) => self.refer(g, rows, t)?,
                Next::Close(t, reason) => self.close(g, rows, t, reason)?,
            };
        }
    }

    /// What follows an assessment finished at `t`.
    fn after_assessment(&mut self, g: &mut Gen, t: i64) -> Next {
        let roll = g.rng.u8(..100);
        if roll < 14 {
            let reason = weighted(
                &mut g.rng,
                &[
                    (ClosureReason::NotEligible, 40),
                    (ClosureReason::CouldNotContact, 25),
                    (ClosureReason::Duplicate, 15),
                    (ClosureReason::MovedAway, 12),
                    (ClosureReason::Deceased, if self.elderly { 24 } else { 3 }),
                ],
            );
            Next::Close(t + between(&mut g.rng, DAY, 20 * DAY), reason)
        } else if roll < 34 {
            Next::Refer(t + between(&mut g.rng, DAY, 14 * DAY))
        } else {
            Next::Serve(t + between(&mut g.rng, DAY, 21 * DAY))
        }
    }

    /// Appends a status change to `to` at `t`.
    fn change(
        &mut self,
        g: &mut Gen,
        rows: &mut ChunkRows,
        to: CaseStatus,
        t: i64,
        by: String,
        note: Option<String>,
    ) -> Result<(), DbErr> {
        let from = (self.version > 0).then_some(self.status);
        // The demo data obeys the same lifecycle as every write: a generator bug fails the seed.
        if let Some(from) = from {
            crate::service::workflow::check_case(from, to).map_err(|e| DbErr::Custom(e.detail()))?;
        }
        rows.status_changes.push([
            new_id(&mut g.rng, t).into(),
            self.id.into(),
            from.map(|s| s.as_str().to_owned()).into(),
            to.as_str().into(),
            at(t)?,
            by.into(),
            note.into(),
        ])?;
        self.status = to;
        self.version += 1;
        self.last_change = t;
        Ok(())
    }

    /// Dinsos serves the case from `t` (maybe enrolling it in one of its programmes); then it is referred or
    /// closed.
    fn serve(&mut self, g: &mut Gen, rows: &mut ChunkRows, t: i64) -> Result<Next, DbErr> {
        let t = g.office(t);
        if t > g.now {
            return Ok(Next::Done);
        }
        self.change(g, rows, CaseStatus::InService, t, DINSOS_ACTOR.to_owned(), None)?;
        let open_enrollment = self.enrollments.iter().any(|e| e.ends_with_case && e.exit.is_none());
        if !open_enrollment && g.rng.u8(..100) < 55 {
            let enrolled = t + between(&mut g.rng, HOUR, 3 * DAY);
            let taken: Vec<usize> = self.enrollments.iter().map(|e| e.programme).collect();
            if enrolled <= g.now
                && let Some(programme) = g.programme(self.categories, enrolled, ORG_DINSOS, &taken)
            {
                self.enrollments.push(EnrollmentDraft {
                    id: new_id(&mut g.rng, enrolled),
                    programme,
                    enrolled,
                    exit: None,
                    ends_with_case: true,
                });
            }
        }
        if self.referrals == 0 && g.rng.u8(..100) < 10 {
            return Ok(Next::Refer(t + between(&mut g.rng, 7 * DAY, 60 * DAY)));
        }
        let duration = if g.rng.u8(..100) < 5 {
            // Stalled cases: the backlog a dashboard should show.
            between(&mut g.rng, 300 * DAY, 1_000 * DAY)
        } else if self.primary == PpksCategory::UninhabitableHouse {
            skewed(&mut g.rng, 45 * DAY, 300 * DAY, 1.3)
        } else {
            skewed(&mut g.rng, 14 * DAY, 200 * DAY, 1.5)
        };
        let reason = weighted(
            &mut g.rng,
            &[
                (ClosureReason::Resolved, 84),
                (ClosureReason::Deceased, if self.elderly { 12 } else { 2 }),
                (ClosureReason::MovedAway, 4),
                (ClosureReason::CouldNotContact, 4),
                (ClosureReason::NotEligible, 2),
            ],
        );
        Ok(Next::Close(t + duration, reason))
    }

    /// Refers the case from Dinsos to a partner at `t`, and plays the referral out up to "now".
    fn refer(&mut self, g: &mut Gen, rows: &mut ChunkRows, t: i64) -> Result<Next, DbErr> {
        let sent = g.office(t);
        if sent > g.now {
            return Ok(Next::Done);
        }
        let to = g.partner(self.primary, &self.district);
        let partner_code = ORGANISATION_SPECS.get(to).map(|spec| spec.code).unwrap_or("MITRA");
        self.change(
            g,
            rows,
            CaseStatus::Referred,
            sent,
            DINSOS_ACTOR.to_owned(),
            Some("Rujukan ke lembaga mitra".to_owned()),
        )?;
        self.referrals += 1;
        let partner_actor = format!("staff:{partner_code}");
        let id = new_id(&mut g.rng, sent);
        let respond_by = sent + 14 * DAY;

        // The partner sees personal data only with consent: ask for it for this partner if not given to all.
        if !self.shares_with_partners {
            let given = (sent - between(&mut g.rng, 0, 2 * DAY)).max(self.opened);
            let giver =
                if self.categories.iter().any(|c| CHILDREN.contains(c) || *c == PpksCategory::ChildWithDisability) {
                    ConsentGiver::Guardian
                } else {
                    ConsentGiver::DataSubject
                };
            g.consent(
                rows,
                ConsentDraft {
                    person: self.person,
                    scope: ConsentScope::ShareWithPartners,
                    partner: Some(to),
                    given_by: giver,
                    given,
                    expiry_percent: 50,
                    revoked_percent: 4,
                },
            )?;
        }

        let mut events: Vec<(ReferralStatus, Option<ReferralReason>, String, i64)> =
            vec![(ReferralStatus::Sent, None, DINSOS_ACTOR.to_owned(), sent)];
        let mut responded = None;
        let mut completed = None;
        let now = g.now;
        let roll = g.rng.u8(..100);
        let next = if roll < 65 {
            let accepted = g.office_after(sent, HOUR, 10 * DAY);
            if accepted > now {
                Next::Done
            } else {
                events.push((ReferralStatus::Accepted, None, partner_actor.clone(), accepted));
                responded = Some(accepted);
                let enrolled = accepted + between(&mut g.rng, DAY, 5 * DAY);
                if enrolled <= now && g.rng.u8(..100) < 70 {
                    let taken: Vec<usize> = self.enrollments.iter().map(|e| e.programme).collect();
                    if let Some(programme) = g.programme(self.categories, enrolled, to, &taken) {
                        self.enrollments.push(EnrollmentDraft {
                            id: new_id(&mut g.rng, enrolled),
                            programme,
                            enrolled,
                            exit: None,
                            ends_with_case: false,
                        });
                    }
                }
                let then = g.rng.u8(..100);
                if then < 80 {
                    let done = g.office_after(accepted, 14 * DAY, 120 * DAY);
                    if done > now {
                        Next::Done
                    } else {
                        events.push((ReferralStatus::Completed, None, partner_actor.clone(), done));
                        completed = Some(done);
                        self.end_partner_enrollments(done, EnrollmentStatus::Completed, None);
                        self.completed_referral = Some((id, to));
                        let reason =
                            if g.rng.u8(..100) < 60 { ClosureReason::Resolved } else { ClosureReason::Referred };
                        Next::Close(done + between(&mut g.rng, HOUR, 10 * DAY), reason)
                    }
                } else if then < 88 {
                    let withdrawn = g.office_after(accepted, 5 * DAY, 40 * DAY);
                    if withdrawn > now {
                        Next::Done
                    } else {
                        let reason = weighted(
                            &mut g.rng,
                            &[
                                (ReferralReason::ClientDeclined, 4),
                                (ReferralReason::ReferredElsewhere, 3),
                                (ReferralReason::CouldNotContact, 2),
                                (ReferralReason::Other, 1),
                            ],
                        );
                        events.push((ReferralStatus::Withdrawn, Some(reason), DINSOS_ACTOR.to_owned(), withdrawn));
                        self.end_partner_enrollments(withdrawn, EnrollmentStatus::Exited, Some("Rujukan ditarik"));
                        Next::Serve(withdrawn + between(&mut g.rng, DAY, 7 * DAY))
                    }
                } else {
                    // The partner keeps serving; Dinsos closes its side.
                    Next::Close(accepted + between(&mut g.rng, 3 * DAY, 30 * DAY), ClosureReason::Referred)
                }
            }
        } else if roll < 83 {
            let declined = g.office_after(sent, HOUR, 10 * DAY);
            if declined > now {
                Next::Done
            } else {
                let reason = weighted(
                    &mut g.rng,
                    &[
                        (ReferralReason::NoCapacity, 30),
                        (ReferralReason::NotEligible, 25),
                        (ReferralReason::OutOfArea, 10),
                        (ReferralReason::CouldNotContact, 12),
                        (ReferralReason::ClientDeclined, 10),
                        (ReferralReason::Duplicate, 5),
                        (ReferralReason::Other, 8),
                    ],
                );
                events.push((ReferralStatus::Declined, Some(reason), partner_actor.clone(), declined));
                responded = Some(declined);
                Next::Serve(declined + between(&mut g.rng, DAY, 7 * DAY))
            }
        } else if roll < 94 {
            if respond_by > now {
                Next::Done
            } else {
                events.push((
                    ReferralStatus::Expired,
                    Some(ReferralReason::NoResponse),
                    "system".to_owned(),
                    respond_by,
                ));
                Next::Serve(respond_by + between(&mut g.rng, DAY, 5 * DAY))
            }
        } else {
            let withdrawn = g.office_after(sent, HOUR, 10 * DAY);
            if withdrawn > now {
                Next::Done
            } else {
                let reason = weighted(
                    &mut g.rng,
                    &[
                        (ReferralReason::ReferredElsewhere, 4),
                        (ReferralReason::ClientDeclined, 3),
                        (ReferralReason::Duplicate, 1),
                        (ReferralReason::Other, 2),
                    ],
                );
                events.push((ReferralStatus::Withdrawn, Some(reason), DINSOS_ACTOR.to_owned(), withdrawn));
                Next::Serve(withdrawn + between(&mut g.rng, DAY, 7 * DAY))
            }
        };

        let Some(&(status, reason, _, last)) = events.last() else {
            return Err(DbErr::Custom("seed: a referral without events".into()));
        };
        let note = match g.rng.u8(..3) {
            0 => Some(format!("Mohon tindak lanjut: {}", category_label(self.primary).to_lowercase())),
            1 => Some("Data lengkap terlampir, mohon konfirmasi penerimaan.".to_owned()),
            _ => None,
        };
        rows.referrals.push([
            id.into(),
            self.id.into(),
            g.world.organisations[ORG_DINSOS].into(),
            g.world.organisations[to].into(),
            status.as_str().into(),
            reason.map(|r| r.as_str().to_owned()).into(),
            note.into(),
            at(sent)?,
            at(respond_by)?,
            at_opt(responded)?,
            at_opt(completed)?,
            (events.len() as i32).into(),
            at(sent)?,
            at(last)?,
            record_key(&mut g.keys),
        ])?;
        let mut from = None;
        for (to_status, reason, actor, occurred) in events {
            if let Some(from) = from {
                crate::service::workflow::check_referral(from, to_status).map_err(|e| DbErr::Custom(e.detail()))?;
            }
            rows.referral_events.push([
                new_id(&mut g.rng, occurred).into(),
                id.into(),
                from.map(|s: ReferralStatus| s.as_str().to_owned()).into(),
                to_status.as_str().into(),
                reason.map(|r| r.as_str().to_owned()).into(),
                actor.into(),
                at(occurred)?,
                Option::<String>::None.into(),
            ])?;
            from = Some(to_status);
        }
        Ok(next)
    }

    /// Ends the partner's enrollments that are still running.
    fn end_partner_enrollments(&mut self, t: i64, status: EnrollmentStatus, reason: Option<&'static str>) {
        for enrollment in self.enrollments.iter_mut().filter(|e| !e.ends_with_case && e.exit.is_none()) {
            enrollment.exit = Some((t.max(enrollment.enrolled), status, reason));
        }
    }

    /// Closes the case at `t` for `reason`, records an outcome (mostly), and sometimes reopens it later.
    fn close(&mut self, g: &mut Gen, rows: &mut ChunkRows, t: i64, reason: ClosureReason) -> Result<Next, DbErr> {
        let t = g.office(t);
        if t > g.now {
            return Ok(Next::Done);
        }
        let note = match reason {
            ClosureReason::Resolved => "Layanan selesai diberikan",
            ClosureReason::Referred => "Ditangani oleh lembaga mitra",
            ClosureReason::NotEligible => "Tidak memenuhi kriteria program",
            ClosureReason::CouldNotContact => "Tidak dapat ditemui setelah tiga kali kunjungan",
            ClosureReason::MovedAway => "Pindah domisili ke luar Kota Banjarmasin",
            ClosureReason::Deceased => "Meninggal dunia",
            ClosureReason::Duplicate => "Duplikat laporan sebelumnya",
        };
        self.change(g, rows, CaseStatus::Closed, t, DINSOS_ACTOR.to_owned(), Some(note.to_owned()))?;
        self.closed = Some((t, reason));
        let (status, exit_reason) = match reason {
            ClosureReason::Resolved => (EnrollmentStatus::Completed, None),
            ClosureReason::Deceased => (EnrollmentStatus::Exited, Some("Meninggal dunia")),
            ClosureReason::MovedAway => (EnrollmentStatus::Exited, Some("Pindah domisili")),
            ClosureReason::NotEligible => (EnrollmentStatus::Exited, Some("Tidak memenuhi syarat")),
            ClosureReason::CouldNotContact => (EnrollmentStatus::Exited, Some("Tidak dapat dihubungi")),
            ClosureReason::Referred | ClosureReason::Duplicate => (EnrollmentStatus::Exited, Some("Kasus ditutup")),
        };
        let mut programme = None;
        for enrollment in self.enrollments.iter_mut().filter(|e| e.ends_with_case && e.exit.is_none()) {
            enrollment.exit = Some((t.max(enrollment.enrolled), status, exit_reason));
            programme = Some(enrollment.programme);
        }
        if reason != ClosureReason::Duplicate && g.rng.u8(..100) < 85 {
            self.outcome(g, rows, t, reason, programme)?;
        }
        let may_reopen =
            matches!(reason, ClosureReason::Resolved | ClosureReason::Referred | ClosureReason::CouldNotContact);
        if self.reopened || !may_reopen || g.rng.u8(..100) >= 5 {
            return Ok(Next::Done);
        }
        let reopened = g.office_after(t, 7 * DAY, 180 * DAY);
        if reopened > g.now {
            return Ok(Next::Done);
        }
        self.change(
            g,
            rows,
            CaseStatus::Reopened,
            reopened,
            DINSOS_ACTOR.to_owned(),
            Some("Dilaporkan kembali oleh PSM".to_owned()),
        )?;
        self.closed = None;
        self.reopened = true;
        let assessed = g.office_after(reopened, DAY, 10 * DAY);
        if assessed > g.now {
            return Ok(Next::Done);
        }
        self.change(g, rows, CaseStatus::Assessment, assessed, DINSOS_ACTOR.to_owned(), None)?;
        Ok(Next::Serve(assessed + between(&mut g.rng, 2 * DAY, 14 * DAY)))
    }

    /// Records what happened for the person when the case closed at `t`.
    fn outcome(
        &mut self,
        g: &mut Gen,
        rows: &mut ChunkRows,
        t: i64,
        reason: ClosureReason,
        programme: Option<usize>,
    ) -> Result<(), DbErr> {
        let mut referral = None;
        let mut recorded_by = DINSOS_ACTOR.to_owned();
        let mut linked_programme = None;
        let outcome_type = match reason {
            ClosureReason::Resolved => {
                if let Some(p) = programme {
                    linked_programme = Some(p);
                    match g.world.programmes[p].kind {
                        ProgrammeKind::HouseRehabilitation => OutcomeType::HouseRehabilitated,
                        ProgrammeKind::DtsenProposal => OutcomeType::ProposedToDtsen,
                        _ if g.rng.bool() => OutcomeType::EnrolledInProgramme,
                        _ => OutcomeType::ServiceDelivered,
                    }
                } else if let Some((id, partner)) = self.completed_referral {
                    referral = Some(id);
                    recorded_by = format!("staff:{}", ORGANISATION_SPECS.get(partner).map_or("MITRA", |s| s.code));
                    OutcomeType::ServiceDelivered
                } else if g.rng.u8(..100) < 55 {
                    OutcomeType::GotHelp
                } else {
                    OutcomeType::ServiceDelivered
                }
            }
            ClosureReason::Referred => match self.completed_referral {
                Some((id, partner)) => {
                    referral = Some(id);
                    recorded_by = format!("staff:{}", ORGANISATION_SPECS.get(partner).map_or("MITRA", |s| s.code));
                    OutcomeType::ServiceDelivered
                }
                None => OutcomeType::Other,
            },
            ClosureReason::NotEligible => OutcomeType::NotEligible,
            ClosureReason::CouldNotContact => OutcomeType::CouldNotContact,
            ClosureReason::MovedAway => OutcomeType::MovedAway,
            ClosureReason::Deceased => OutcomeType::Deceased,
            ClosureReason::Duplicate => OutcomeType::Other,
        };
        if referral.is_none()
            && g.rng.u8(..100) < 25
            && let Some(volunteer) = self.reporter
        {
            recorded_by = format!("volunteer:{volunteer}");
        }
        let verified_at =
            if g.rng.u8(..100) < 65 { Some(g.office_after(t, DAY, 45 * DAY)).filter(|&v| v <= g.now) } else { None };
        let note = match outcome_type {
            OutcomeType::HouseRehabilitated => Some("Rumah selesai direhabilitasi dan diserahterimakan"),
            OutcomeType::ProposedToDtsen => Some("Diusulkan, menunggu hasil verifikasi pusat"),
            OutcomeType::Other => Some("Perlu tindak lanjut oleh lembaga mitra"),
            _ => None,
        };
        rows.outcomes.push([
            new_id(&mut g.rng, t).into(),
            self.id.into(),
            referral.into(),
            linked_programme.map(|p| g.world.programmes[p].id).into(),
            outcome_type.as_str().into(),
            outcome_type.group().as_str().into(),
            recorded_by.into(),
            at(t)?,
            verified_at.is_some().into(),
            at_opt(verified_at)?,
            note.map(str::to_owned).into(),
            at(t)?,
            at(verified_at.unwrap_or(t))?,
            record_key(&mut g.keys),
        ])?;
        Ok(())
    }
}

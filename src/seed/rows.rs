//! Rows and statements: the tables the seed fills and the multi-row INSERTs that fill them.

use super::*;

/// A table and the columns the seed fills, in the order values are pushed.
pub(super) struct Table {
    pub(super) name: &'static str,
    pub(super) columns: &'static [&'static str],
}

// The tables the seed fills, with their columns in the order rows push their values.

pub(super) static ORGANISATIONS: Table = Table {
    name: "organisations",
    columns: &["id", "code", "name", "kind", "kelurahan_code", "created_at", "updated_at"],
};
pub(super) static VOLUNTEERS: Table = Table {
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
pub(super) static TRAINING_ATTENDANCES: Table = Table {
    name: "training_attendances",
    columns: &["id", "volunteer_id", "course", "organiser_id", "attended_on", "hours", "created_at", "updated_at"],
};
pub(super) static AWARDS: Table = Table {
    name: "awards",
    columns: &["id", "volunteer_id", "title", "awarded_on", "awarded_by", "created_at", "updated_at"],
};
pub(super) static PROGRAMMES: Table = Table {
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
pub(super) static PROGRAMME_CATEGORIES: Table =
    Table { name: "programme_categories", columns: &["programme_id", "category"] };
pub(super) static PERSONS: Table = Table {
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
pub(super) static CASES: Table = Table {
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
pub(super) static CASE_CATEGORIES: Table = Table { name: "case_categories", columns: &["case_id", "category"] };
pub(super) static CASE_STATUS_CHANGES: Table = Table {
    name: "case_status_changes",
    columns: &["id", "case_id", "from_status", "to_status", "changed_at", "changed_by", "note"],
};
pub(super) static REFERRALS: Table = Table {
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
pub(super) static REFERRAL_EVENTS: Table = Table {
    name: "referral_events",
    columns: &["id", "referral_id", "from_status", "to_status", "reason", "actor", "occurred_at", "note"],
};
pub(super) static ENROLLMENTS: Table = Table {
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
pub(super) static OUTCOMES: Table = Table {
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
pub(super) static CONSENTS: Table = Table {
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
pub(super) struct Rows {
    pub(super) table: &'static Table,
    pub(super) values: Vec<Value>,
}

impl Rows {
    /// No rows yet, with room for about `capacity` of them.
    pub(super) fn new(table: &'static Table, capacity: usize) -> Self {
        Rows { table, values: Vec::with_capacity(capacity * table.columns.len()) }
    }

    /// Appends one row; its values are in the order of the table's columns.
    pub(super) fn push<const N: usize>(&mut self, row: [Value; N]) -> Result<(), DbErr> {
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
    pub(super) fn len(&self) -> u64 {
        (self.values.len() / self.table.columns.len()) as u64
    }

    /// Turns the rows into multi-row INSERT statements of at most [`MAX_ROWS_PER_STATEMENT`] rows, each
    /// within the backend's bind-parameter limit.
    pub(super) fn into_statements(self, sql: &mut InsertSql, out: &mut Vec<Statement>) -> Result<(), DbErr> {
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
pub(super) struct InsertSql {
    pub(super) backend: DbBackend,
    pub(super) cache: HashMap<(&'static str, usize), String>,
}

impl InsertSql {
    /// An empty cache for `backend`.
    pub(super) fn new(backend: DbBackend) -> Self {
        InsertSql { backend, cache: HashMap::new() }
    }

    /// `INSERT INTO table (columns) VALUES (..), (..)` for `rows` rows, with one bind parameter per value.
    pub(super) fn get(&mut self, table: &'static Table, rows: usize) -> Result<String, DbErr> {
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

/// How a chunk's rows reach the database.
pub(super) enum Load {
    /// Multi-row INSERT statements (SQLite).
    Statements(Vec<Statement>),
    /// One COPY per table (PostgreSQL).
    Copies(Vec<CopyRows>),
}

/// Rows of one table in PostgreSQL's binary COPY format, with the statement that loads them.
pub(super) struct CopyRows {
    /// `COPY table (columns) FROM STDIN (FORMAT binary)`.
    pub(super) statement: String,
    /// The header, one tuple per row, the trailer.
    pub(super) data: Vec<u8>,
}

/// Start of every binary COPY stream: the signature, no flags, no header extension.
const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Microseconds and days from the Unix epoch to PostgreSQL's (2000-01-01 UTC).
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;
const POSTGRES_EPOCH_DAYS: i64 = 10_957;
/// chrono's day number (from 0001-01-01 as day 1) of the Unix epoch.
const UNIX_EPOCH_DAY_FROM_CE: i64 = 719_163;

impl Rows {
    /// The rows in binary COPY format (PostgreSQL): no statement size limit, and nothing for the server
    /// to parse (in text format, parsing UUIDs, instants and numbers took a fifth of the load's CPU).
    pub(super) fn into_copy(self) -> Result<CopyRows, DbErr> {
        let table = self.table.name;
        let width = self.table.columns.len();
        let fields =
            i16::try_from(width).map_err(|_| DbErr::Custom(format!("seed rows of {table}: too many columns")))?;
        let mut data = Vec::with_capacity(COPY_HEADER.len() + self.values.len() * 12 + 2);
        data.extend_from_slice(COPY_HEADER);
        for row in self.values.chunks(width) {
            data.extend_from_slice(&fields.to_be_bytes());
            for value in row {
                copy_value(&mut data, value)
                    .map_err(|kind| DbErr::Custom(format!("seed value of {table} for COPY: {kind}")))?;
            }
        }
        data.extend_from_slice(&(-1i16).to_be_bytes());
        let statement = format!("COPY {table} ({}) FROM STDIN (FORMAT binary)", self.table.columns.join(", "));
        Ok(CopyRows { statement, data })
    }
}

/// Appends `value` as one field of a binary COPY tuple: its length, then its bytes in the column type's
/// binary form (a length of -1 for NULL). Integers go as the width their Rust type has, so each must
/// match its column's (`i32` for `integer`, `i64` for `bigint`): PostgreSQL refuses any other.
fn copy_value(out: &mut Vec<u8>, value: &Value) -> Result<(), &'static str> {
    let mut field = |bytes: &[u8]| -> Result<(), &'static str> {
        let length = i32::try_from(bytes.len()).map_err(|_| "a value over 2 GiB")?;
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(bytes);
        Ok(())
    };
    match value {
        Value::Bool(Some(value)) => field(&[u8::from(*value)]),
        Value::SmallInt(Some(value)) => field(&value.to_be_bytes()),
        Value::Int(Some(value)) => field(&value.to_be_bytes()),
        Value::BigInt(Some(value)) => field(&value.to_be_bytes()),
        Value::Double(Some(value)) if value.is_finite() => field(&value.to_be_bytes()),
        Value::String(Some(value)) => field(value.as_bytes()),
        Value::Uuid(Some(value)) => field(value.as_bytes()),
        Value::ChronoDate(Some(value)) => {
            let days =
                i32::try_from(i64::from(value.num_days_from_ce()) - UNIX_EPOCH_DAY_FROM_CE - POSTGRES_EPOCH_DAYS)
                    .map_err(|_| "a date out of range")?;
            field(&days.to_be_bytes())
        }
        // The seed's instants are whole seconds, so microseconds hold them exactly.
        Value::ChronoDateTimeUtc(Some(value)) => {
            field(&(value.timestamp_micros() - POSTGRES_EPOCH_MICROS).to_be_bytes())
        }
        Value::Bool(None)
        | Value::SmallInt(None)
        | Value::Int(None)
        | Value::BigInt(None)
        | Value::Double(None)
        | Value::String(None)
        | Value::Uuid(None)
        | Value::ChronoDate(None)
        | Value::ChronoDateTimeUtc(None) => {
            out.extend_from_slice(&(-1i32).to_be_bytes());
            Ok(())
        }
        _ => Err("a type the seed does not write"),
    }
}

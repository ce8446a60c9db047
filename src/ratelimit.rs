//! Rate limits per API key: a leaky bucket of points held on the key's own row (`api_keys.bucket_level`,
//! `api_keys.bucket_at`), so that every replica charges the same bucket.
//!
//! Before a query runs, its requested cost is charged in one conditional `UPDATE ... RETURNING` that
//! drains the bucket by the time passed, checks that the key is still not revoked and that the cost
//! fits, and adds the cost, atomically: two replicas can never spend the same points. A query that does
//! not fit is refused with `THROTTLED` (HTTP 429, `Retry-After`). After it ran, what it did not use
//! (requested minus actual cost) is given back. Levels are kept in thousandths of a point and instants
//! in milliseconds, as integers, so the arithmetic is the same in SQLite and PostgreSQL.
//!
//! A [`Meter`] is made per request by the HTTP layer ([`crate::gate`]) and handed to the GraphQL
//! execution as request data; requests without one (tests, the command line) are not rate limited.

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use uuid::Uuid;

use crate::config::LimitConfig;
use crate::error::{AppError, AppResult};
use crate::limits::{Refusal, code};

/// The bucket of one key, as this request last saw it.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    /// Thousandths of a point in use at `at_ms`.
    level: i64,
    at_ms: i64,
}

#[derive(Debug, Default)]
struct State {
    seen: Option<Seen>,
    /// Points charged for this request so far.
    charged: u64,
    /// Set when the request was refused for want of points: seconds until it would fit.
    retry_after: Option<u64>,
    /// The HTTP status the answer must have, when the GraphQL layer decided one (429, 405).
    status: Option<u16>,
}

struct Inner {
    db: DatabaseConnection,
    key_id: Uuid,
    /// Bucket size, points.
    points: u64,
    /// Points regained per second.
    restore: u64,
    /// The request came over GET (queries only).
    get: bool,
    state: Mutex<State>,
}

/// The rate-limit meter of one request: which key pays, and what happened to its bucket.
#[derive(Clone)]
pub struct Meter(Arc<Inner>);

/// The bucket as Shopify reports it (`extensions.cost.throttleStatus`), and the instant it is full again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleStatus {
    pub maximum_available: u64,
    pub currently_available: u64,
    pub restore_rate: u64,
    pub reset_at: DateTime<Utc>,
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// `sql` with its `?` placeholders numbered for PostgreSQL.
fn statement(backend: DatabaseBackend, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    let sql = match backend {
        DatabaseBackend::Postgres => {
            let mut numbered = String::with_capacity(sql.len() + 16);
            for (n, part) in sql.split('?').enumerate() {
                if n > 0 {
                    numbered.push_str(&format!("${n}"));
                }
                numbered.push_str(part);
            }
            numbered
        }
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

impl Meter {
    /// The meter of a request by `key_id`, or `None` when rate limiting is off (`--rate-limit-points 0`).
    pub fn new(db: DatabaseConnection, key_id: Uuid, limits: &LimitConfig, get: bool) -> Option<Meter> {
        (limits.rate_limit_points > 0).then(|| {
            Meter(Arc::new(Inner {
                db,
                key_id,
                points: limits.rate_limit_points,
                restore: limits.rate_limit_restore.clamp(1, 1_000_000),
                get,
                state: Mutex::default(),
            }))
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the request came over GET.
    pub fn is_get(&self) -> bool {
        self.0.get
    }

    /// The bucket size in points.
    pub fn limit(&self) -> u64 {
        self.0.points
    }

    /// Asks the HTTP layer to answer with `status`.
    pub fn set_status(&self, status: u16) {
        self.state().status = Some(status);
    }

    /// Charges `cost` points, or refuses with `THROTTLED` (the key has fewer left) or
    /// `MAX_COST_EXCEEDED` (more than the whole bucket: it would never fit).
    pub async fn charge(&self, cost: u64) -> Result<(), ChargeError> {
        let inner = &self.0;
        if cost > inner.points {
            return Err(ChargeError::Refused(Refusal::over(
                code::MAX_COST_EXCEEDED,
                "the query costs more points than a key's whole budget",
                cost,
                inner.points,
                " (--rate-limit-points)",
            )));
        }
        let now = now_ms();
        let cost_milli = i64::try_from(cost.saturating_mul(1000)).unwrap_or(i64::MAX);
        let capacity = i64::try_from(inner.points.saturating_mul(1000)).unwrap_or(i64::MAX);
        let rate = i64::try_from(inner.restore).unwrap_or(1);
        // The level drained by the time since it was last written; a clock behind that instant (another
        // replica's) drains nothing rather than refilling.
        let drained = "(CASE WHEN bucket_level - (CASE WHEN ? > bucket_at THEN (? - bucket_at) * ? ELSE 0 END) > 0 \
                       THEN bucket_level - (CASE WHEN ? > bucket_at THEN (? - bucket_at) * ? ELSE 0 END) ELSE 0 END)";
        let sql = format!(
            "UPDATE api_keys SET bucket_level = {drained} + ?, bucket_at = CASE WHEN ? > bucket_at THEN ? ELSE bucket_at END \
             WHERE id = ? AND revoked_at IS NULL AND {drained} + ? <= ? RETURNING bucket_level, bucket_at"
        );
        let drain_values = || -> Vec<sea_orm::Value> {
            vec![now.into(), now.into(), rate.into(), now.into(), now.into(), rate.into()]
        };
        let mut values = drain_values();
        values.extend([cost_milli.into(), now.into(), now.into(), inner.key_id.into()]);
        values.extend(drain_values());
        values.extend([cost_milli.into(), capacity.into()]);
        let backend = inner.db.get_database_backend();
        let row = inner.db.query_one_raw(statement(backend, &sql, values)).await.map_err(AppError::from)?;
        if let Some(row) = row {
            let seen = Seen {
                level: row.try_get("", "bucket_level").map_err(AppError::from)?,
                at_ms: row.try_get("", "bucket_at").map_err(AppError::from)?,
            };
            let mut state = self.state();
            state.seen = Some(seen);
            state.charged = state.charged.saturating_add(cost);
            return Ok(());
        }
        // Refused: read the bucket to say when the query would fit (or find the key revoked meanwhile).
        let select = statement(
            backend,
            "SELECT bucket_level, bucket_at, revoked_at IS NOT NULL AS revoked FROM api_keys WHERE id = ?",
            vec![inner.key_id.into()],
        );
        let row = inner.db.query_one_raw(select).await.map_err(AppError::from)?;
        let Some(row) = row else {
            return Err(ChargeError::Error(AppError::Unauthenticated("the API key no longer exists".into())));
        };
        let revoked: bool = row.try_get("", "revoked").map_err(AppError::from)?;
        if revoked {
            return Err(ChargeError::Error(AppError::Unauthenticated("the API key was revoked".into())));
        }
        let seen = Seen {
            level: row.try_get("", "bucket_level").map_err(AppError::from)?,
            at_ms: row.try_get("", "bucket_at").map_err(AppError::from)?,
        };
        let available = self.available_milli(seen, now);
        let wait = (cost_milli - available).max(0);
        let per_second = rate.saturating_mul(1000);
        let retry_after = u64::try_from((wait + per_second - 1) / per_second).unwrap_or(1).max(1);
        {
            let mut state = self.state();
            state.seen = Some(seen);
            state.retry_after = Some(retry_after);
            state.status = Some(429);
        }
        Err(ChargeError::Refused(Refusal {
            code: code::THROTTLED,
            message: format!(
                "Throttled: the query costs {cost} points and the key has {} left; it regains {} per second, \
                 retry in {retry_after} s",
                available / 1000,
                inner.restore
            ),
            limit: Some(inner.points),
            value: Some(cost),
        }))
    }

    /// Gives back `points` of what was charged (the part of the requested cost the query did not use).
    pub async fn refund(&self, points: u64) -> AppResult<()> {
        let points = points.min(self.state().charged);
        if points == 0 {
            return Ok(());
        }
        let inner = &self.0;
        let milli = i64::try_from(points.saturating_mul(1000)).unwrap_or(i64::MAX);
        let update = statement(
            inner.db.get_database_backend(),
            "UPDATE api_keys SET bucket_level = CASE WHEN bucket_level > ? THEN bucket_level - ? ELSE 0 END \
             WHERE id = ? RETURNING bucket_level, bucket_at",
            vec![milli.into(), milli.into(), inner.key_id.into()],
        );
        if let Some(row) = inner.db.query_one_raw(update).await? {
            let seen = Seen { level: row.try_get("", "bucket_level")?, at_ms: row.try_get("", "bucket_at")? };
            let mut state = self.state();
            state.seen = Some(seen);
            state.charged -= points;
        }
        Ok(())
    }

    fn level_milli(&self, seen: Seen, now: i64) -> i64 {
        let rate = i64::try_from(self.0.restore).unwrap_or(1);
        (seen.level - (now - seen.at_ms).max(0).saturating_mul(rate)).max(0)
    }

    fn available_milli(&self, seen: Seen, now: i64) -> i64 {
        let capacity = i64::try_from(self.0.points.saturating_mul(1000)).unwrap_or(i64::MAX);
        (capacity - self.level_milli(seen, now)).max(0)
    }

    /// The bucket now, as last seen by this request; `None` before it was charged or read.
    pub fn throttle_status(&self) -> Option<ThrottleStatus> {
        let seen = self.state().seen?;
        let now = now_ms();
        let level = self.level_milli(seen, now);
        let per_second = i64::try_from(self.0.restore).unwrap_or(1).saturating_mul(1000);
        let full_in_ms = (level.saturating_mul(1000) + per_second - 1) / per_second;
        Some(ThrottleStatus {
            maximum_available: self.0.points,
            currently_available: u64::try_from(self.available_milli(seen, now) / 1000).unwrap_or(0),
            restore_rate: self.0.restore,
            reset_at: DateTime::from_timestamp_millis(now + full_in_ms).unwrap_or_else(Utc::now),
        })
    }

    /// The HTTP status the answer must have, if the GraphQL layer decided one, and for 429 the seconds
    /// to put in `Retry-After`.
    pub fn answer(&self) -> (Option<u16>, Option<u64>) {
        let state = self.state();
        (state.status, state.retry_after)
    }
}

/// Why a charge did not go through.
#[derive(Debug)]
pub enum ChargeError {
    /// Not enough points (`THROTTLED`), or more than a bucket holds (`MAX_COST_EXCEEDED`).
    Refused(Refusal),
    /// The database failed, or the key was revoked or deleted since it was checked.
    Error(AppError),
}

impl From<AppError> for ChargeError {
    fn from(error: AppError) -> Self {
        ChargeError::Error(error)
    }
}

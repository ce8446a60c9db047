//! The write unit every command runs in: one transaction ([`Write`]) that checks who may run the
//! command ([`access`](super::access)), reads the row it changes under a lock, checks the version the
//! caller last read, changes the row, appends history, records the audit event with the values before and
//! after, appends to partner feeds, and commits all of it together. What a command does lives in its
//! noun's module; nothing here knows GraphQL or HTTP.
//!
//! Commands partner systems call take an idempotency key: a retry with the same key and input returns
//! the first result without doing the work again; the same key with another input, or while the first
//! request is still running, is `CONFLICT`.
//!
//! A refused command that carried personal data (a person, a summary, a note) leaves a record of the
//! refusal ([`refused`]): who, when, which operation, which fields were carried and the error code, never
//! the values. It is written outside the rolled-back transaction.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use entity::enums::AuditAction;
use entity::{audit_event, idempotency_key};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, Iterable, ModelTrait,
    PrimaryKeyTrait, QueryFilter, QuerySelect, SqlErr, TransactionTrait,
};
use serde::Serialize;
use uuid::Uuid;

use super::access::Command;
use crate::audit::{self, Write as AuditWrite};
use crate::auth::{Viewer, sha256_hex};
use crate::error::{AppError, AppResult};
use crate::service::scope::{self, Guarded};

/// Runs `$work` (an expression over `$write: Write`, awaited) as one write of `$operation` by `$actor`:
/// checks the access table, replays the first result when `$key` was used before with the same `$input`,
/// otherwise does the work in one transaction and commits it (or rolls it back and frees the key). A
/// refusal of an operation carrying personal data is recorded ([`refused`]). Evaluates to
/// `AppResult<Uuid>`, the changed object's id.
macro_rules! run {
    ($actor:expr, $operation:expr, $key:expr, $input:expr, |$write:ident| $work:expr) => {{
        let actor: &$crate::service::write::Actor<'_> = $actor;
        let operation: &$crate::service::write::Operation = $operation;
        let result = async {
            $crate::service::access::require(actor.viewer, operation.command)?;
            match $crate::service::write::Write::start(actor, operation.command.name(), $key, $input).await? {
                $crate::service::write::Start::Replay(id) => Ok(id),
                $crate::service::write::Start::Fresh($write) => {
                    let result = $work;
                    $write.finish(result).await
                }
            }
        }
        .await;
        match result {
            Ok(id) => Ok(id),
            Err(error) => Err($crate::service::write::refused(actor, operation, error).await),
        }
    }};
}

pub(crate) use run;

/// An idempotency claim older than this whose request never finished (its server stopped) is abandoned
/// and may be taken over by a retry.
const ABANDONED_AFTER: Duration = Duration::minutes(5);

/// Longest idempotency key accepted.
const MAX_IDEMPOTENCY_KEY: usize = 200;

/// Who runs a command, and where: the connection, the viewer, and the city's UTC offset (days and years,
/// such as the year of a case's reference number, count in the city's time).
#[derive(Clone, Copy)]
pub struct Actor<'a> {
    pub db: &'a DatabaseConnection,
    pub viewer: &'a Viewer,
    pub city_offset: FixedOffset,
}

/// A command about to run: which one, and which personal-data fields its input carries (named as the
/// client wrote them), for the record of a refusal.
#[derive(Debug, Clone)]
pub struct Operation {
    pub command: Command,
    pub carried: Vec<&'static str>,
}

impl Operation {
    /// `command` carrying the personal fields of `carried` that are present.
    pub fn new(command: Command, carried: &[(&'static str, bool)]) -> Operation {
        Operation { command, carried: carried.iter().filter(|(_, present)| *present).map(|(f, _)| *f).collect() }
    }
}

/// How a write starts: fresh, or as the replay of a finished request with the same idempotency key.
pub enum Start {
    /// The key was used before with the same input: the id of the object the first request returned.
    Replay(Uuid),
    /// Do the work in this transaction, then [`Write::finish`].
    Fresh(Write),
}

/// A write in progress: its transaction, its viewer, and its idempotency claim if it has one.
pub struct Write {
    pub txn: DatabaseTransaction,
    pub viewer: Viewer,
    pub now: DateTime<Utc>,
    pub city_offset: FixedOffset,
    db: DatabaseConnection,
    claim: Option<Uuid>,
}

impl Write {
    /// Starts a write of `operation` with `input`, claiming `idempotency_key` when given.
    pub async fn start(
        actor: &Actor<'_>,
        operation: &'static str,
        idempotency_key: Option<&str>,
        input: &impl Serialize,
    ) -> AppResult<Start> {
        let db = actor.db.clone();
        let viewer = actor.viewer.clone();
        let now = Utc::now();
        let claim = match idempotency_key {
            None => None,
            Some(key) => match claim(&db, &viewer, key, operation, input, now).await? {
                Claimed::Replay(id) => return Ok(Start::Replay(id)),
                Claimed::Fresh(claim) => Some(claim),
            },
        };
        match begin_write(&db).await {
            Ok(txn) => Ok(Start::Fresh(Write { txn, viewer, now, city_offset: actor.city_offset, db, claim })),
            Err(error) => {
                release(&db, claim).await;
                Err(error)
            }
        }
    }

    /// Today in the city.
    pub fn today(&self) -> NaiveDate {
        self.now.with_timezone(&self.city_offset).date_naive()
    }

    /// Commits the work when it succeeded (recording its result under the idempotency key); otherwise
    /// rolls it back and frees the key for a retry.
    pub async fn finish(self, result: AppResult<Uuid>) -> AppResult<Uuid> {
        let Write { txn, db, claim, now, .. } = self;
        let outcome = async {
            let id = result?;
            if let Some(claim) = claim {
                idempotency_key::Entity::update_many()
                    .col_expr(idempotency_key::Column::Response, Expr::value(id.to_string()))
                    .col_expr(idempotency_key::Column::CompletedAt, Expr::value(now))
                    .filter(idempotency_key::Column::Id.eq(claim))
                    .exec(&txn)
                    .await?;
            }
            txn.commit().await?;
            Ok(id)
        }
        .await;
        if outcome.is_err() {
            release(&db, claim).await;
        }
        outcome
    }

    /// The row `id` of `E` as the writer may see it, locked until the transaction ends. A row outside the
    /// writer's scope does not exist for it: `NOT_FOUND` ("no such `what`").
    pub async fn locked<E>(&self, id: Uuid, what: &str) -> AppResult<E::Model>
    where
        E: Guarded,
        Uuid: Into<<E::PrimaryKey as PrimaryKeyTrait>::ValueType>,
    {
        E::find_by_id(id)
            .filter(scope::scope::<E>(&self.viewer))
            .lock_exclusive()
            .one(&self.txn)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no such {what}")))
    }

    /// Records the audit event of a change to `subject`.
    pub async fn audit<M: ModelTrait>(
        &self,
        action: AuditAction,
        subject_type: &'static str,
        subject_id: Uuid,
        person_id: Option<Uuid>,
        before: Option<&M>,
        after: Option<&M>,
    ) -> AppResult<()> {
        let before = before.map(snapshot);
        let after = after.map(snapshot);
        let write =
            AuditWrite { action, subject_type, subject_id, person_id, before: before.as_ref(), after: after.as_ref() };
        audit::record_write(&self.txn, &self.viewer, write).await
    }
}

/// The subject type of the record a refused write leaves in the audit trail.
pub const REFUSED_SUBJECT: &str = "RefusedWrite";

/// Records that `operation` was refused with `error`, when its input carried personal data, and returns
/// the error. The record (action REFUSED, subject type [`REFUSED_SUBJECT`], subject id the operation's
/// name) holds who, when, the operation, the fields carried and the error code, never their values. If it
/// cannot be written, the caller gets `INTERNAL` instead: no refusal goes unrecorded.
pub async fn refused(actor: &Actor<'_>, operation: &Operation, error: AppError) -> AppError {
    if operation.carried.is_empty() {
        return error;
    }
    let field = match &error {
        AppError::BadInput { field, .. } => field.clone(),
        _ => None,
    };
    let detail = serde_json::json!({
        "operation": operation.command.name(),
        "code": error.code(),
        "field": field,
        "carried": operation.carried,
    });
    let row = audit_event::ActiveModel {
        id: Set(entity::new_id()),
        occurred_at: Set(Utc::now()),
        api_key_id: Set(actor.viewer.key_id),
        actor: Set(actor.viewer.label.clone()),
        action: Set(AuditAction::Refused),
        subject_type: Set(REFUSED_SUBJECT.to_owned()),
        subject_id: Set(operation.command.name().to_owned()),
        person_id: Set(None),
        fields: Set(Some(operation.carried.join(","))),
        before: Set(None),
        after: Set(Some(detail.to_string())),
    };
    match audit_event::Entity::insert(row).exec_without_returning(actor.db).await {
        Ok(_) => error,
        Err(record) => {
            tracing::error!(error = %error.detail(), "refused write, and its audit record failed");
            AppError::Database(record)
        }
    }
}

/// A row as a JSON object of its columns, for the audit trail.
pub fn snapshot<M: ModelTrait>(model: &M) -> serde_json::Value {
    use sea_orm::IdenStatic;
    let columns = <<M::Entity as EntityTrait>::Column as Iterable>::iter();
    let object = columns
        // A record key is no fact about the record, and whoever knew it could undo the perturbation of
        // the statistics: it stays out of the trail and of exports.
        .filter(|column| column.as_str() != crate::service::perturbation::RECORD_KEY_COLUMN)
        .map(|column| {
            let value = sea_orm::sea_query::value::sea_value_to_json_value(&model.get(column));
            (column.as_str().to_owned(), value)
        })
        .collect();
    serde_json::Value::Object(object)
}

/// Begins a write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), so that a
/// transaction never has to upgrade a read lock, which SQLite may refuse under concurrent writers.
pub async fn begin_write(db: &DatabaseConnection) -> AppResult<DatabaseTransaction> {
    let options = sea_orm::TransactionOptions {
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    Ok(db.begin_with_options(options).await?)
}

/// Refuses a write based on a version other than the current one.
pub fn check_version(what: &str, current: i32, given: i32) -> AppResult<()> {
    if current == given {
        Ok(())
    } else {
        Err(AppError::Conflict(format!(
            "the {what} changed since you read it: you sent version {given}, it is now at version {current}; read it again and retry"
        )))
    }
}

/// A unique-constraint violation as the CONFLICT it means; other errors unchanged.
pub fn duplicate(error: sea_orm::DbErr, message: &str) -> AppError {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => AppError::Conflict(message.to_owned()),
        _ => error.into(),
    }
}

enum Claimed {
    Replay(Uuid),
    Fresh(Uuid),
}

/// Whose idempotency keys these are: each API key has its own key space.
fn owner(viewer: &Viewer) -> String {
    viewer.key_id.map(|id| id.to_string()).unwrap_or_else(|| viewer.label.clone())
}

async fn claim(
    db: &DatabaseConnection,
    viewer: &Viewer,
    key: &str,
    operation: &'static str,
    input: &impl Serialize,
    now: DateTime<Utc>,
) -> AppResult<Claimed> {
    if key.is_empty() || key.chars().count() > MAX_IDEMPOTENCY_KEY || key.chars().any(char::is_control) {
        return Err(AppError::bad_input(
            "idempotencyKey",
            format!("an idempotency key has 1 to {MAX_IDEMPOTENCY_KEY} characters, none of them control characters"),
        ));
    }
    let input = serde_json::to_string(input).map_err(|e| AppError::Internal(format!("cannot hash input: {e}")))?;
    let hash = sha256_hex(&format!("{operation}\n{input}"));
    let owner = owner(viewer);
    for _ in 0..2 {
        let id = entity::new_id();
        let row = idempotency_key::ActiveModel {
            id: Set(id),
            owner: Set(owner.clone()),
            key: Set(key.to_owned()),
            operation: Set(operation.to_owned()),
            request_hash: Set(hash.clone()),
            response: Set(None),
            created_at: Set(now),
            completed_at: Set(None),
        };
        match idempotency_key::Entity::insert(row).exec_without_returning(db).await {
            Ok(_) => return Ok(Claimed::Fresh(id)),
            Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {}
            Err(error) => return Err(error.into()),
        }
        let existing = idempotency_key::Entity::find()
            .filter(idempotency_key::Column::Owner.eq(owner.as_str()))
            .filter(idempotency_key::Column::Key.eq(key))
            .one(db)
            .await?;
        let Some(existing) = existing else { continue };
        if existing.operation != operation || existing.request_hash != hash {
            return Err(AppError::Conflict(format!(
                "the idempotency key `{key}` was already used with a different input (for {})",
                existing.operation
            )));
        }
        match existing.response.as_deref().map(Uuid::parse_str) {
            Some(Ok(id)) => return Ok(Claimed::Replay(id)),
            Some(Err(_)) => return Err(AppError::Internal("unreadable idempotent response".into())),
            None if now - existing.created_at > ABANDONED_AFTER => {
                // Its server stopped before finishing: free the key and claim it again.
                idempotency_key::Entity::delete_many()
                    .filter(idempotency_key::Column::Id.eq(existing.id))
                    .filter(idempotency_key::Column::Response.is_null())
                    .exec(db)
                    .await?;
            }
            None => {
                return Err(AppError::Conflict(format!(
                    "a request with the idempotency key `{key}` is still in progress; retry when it has finished"
                )));
            }
        }
    }
    Err(AppError::Conflict(format!("the idempotency key `{key}` is contended; retry")))
}

/// Frees a claim whose work failed, so that the client can retry with the same key.
async fn release(db: &DatabaseConnection, claim: Option<Uuid>) {
    let Some(claim) = claim else { return };
    if let Err(error) = idempotency_key::Entity::delete_by_id(claim).exec(db).await {
        tracing::warn!(%error, %claim, "could not free an idempotency key after a failed write");
    }
}

/// Serialises a value by its debug form (enumerations, for hashing inputs).
pub fn debug<S: serde::Serializer, T: std::fmt::Debug>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format!("{value:?}"))
}

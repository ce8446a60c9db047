//! The root Mutation type, and how every write runs.
//!
//! A write is one transaction ([`Write`]): it checks who may do it ([`policy`](crate::policy)), reads
//! the row it changes under a lock, checks the version the caller last read (a stale one is `CONFLICT`,
//! so no update is ever lost) and the lifecycle ([`workflow`](crate::service::workflow)), changes the row,
//! appends history, records the audit event with the values before and after, appends to partner
//! feeds, and commits all of it together.
//!
//! Mutations that partner systems call take an `idempotencyKey`: a retry with the same key and input
//! returns the first result without doing the work again; the same key with another input, or while the
//! first request is still running, is `CONFLICT`.

/// Runs `$work` (an expression over `$write: Write`, awaited) as one write of `$operation`: replays the
/// first result when `$key` was used before with the same `$input`, otherwise does the work in one
/// transaction and commits it (or rolls it back and frees the key). Evaluates to the changed object's id.
macro_rules! run_write {
    ($ctx:expr, $operation:expr, $key:expr, $input:expr, |$write:ident| $work:expr) => {
        match $crate::graphql::mutation::Write::start($ctx, $operation, $key, $input).await? {
            $crate::graphql::mutation::Start::Replay(id) => id,
            $crate::graphql::mutation::Start::Fresh($write) => {
                let result = $work;
                $write.finish(result).await?
            }
        }
    };
}

mod case;
mod key;
mod outcome;
mod person;
mod programme;
mod referral;
mod volunteer;

use async_graphql::{Context, MergedObject};
use chrono::{DateTime, Duration, Utc};
use entity::enums::AuditAction;
use entity::idempotency_key;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, Iterable, ModelTrait,
    QueryFilter, QuerySelect, SqlErr,
};
use serde::Serialize;
use uuid::Uuid;

use crate::audit::{self, Write as AuditWrite};
use crate::auth::{Viewer, sha256_hex};
use crate::error::{AppError, AppResult};
use crate::graphql::connection::Keyed;
use crate::graphql::types::db;
use crate::policy;
use crate::service::feed::begin_write;

/// Every write entry point of the API.
#[derive(MergedObject, Default)]
pub struct MutationRoot(
    case::CaseMutation,
    key::KeyMutation,
    person::PersonMutation,
    referral::ReferralMutation,
    volunteer::VolunteerMutation,
    programme::ProgrammeMutation,
    outcome::OutcomeMutation,
);

/// An idempotency claim older than this whose request never finished (its server stopped) is abandoned
/// and may be taken over by a retry.
const ABANDONED_AFTER: Duration = Duration::minutes(5);

/// Longest idempotency key accepted.
const MAX_IDEMPOTENCY_KEY: usize = 200;

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
    db: DatabaseConnection,
    claim: Option<Uuid>,
}

impl Write {
    /// Starts a write of `operation` with `input`, claiming `idempotency_key` when given.
    pub async fn start(
        ctx: &Context<'_>,
        operation: &'static str,
        idempotency_key: Option<&str>,
        input: &impl Serialize,
    ) -> AppResult<Start> {
        let db = db(ctx)?.clone();
        let viewer = policy::viewer(ctx)?.clone();
        let now = Utc::now();
        let claim = match idempotency_key {
            None => None,
            Some(key) => match claim(&db, &viewer, key, operation, input, now).await? {
                Claimed::Replay(id) => return Ok(Start::Replay(id)),
                Claimed::Fresh(claim) => Some(claim),
            },
        };
        match begin_write(&db).await {
            Ok(txn) => Ok(Start::Fresh(Write { txn, viewer, now, db, claim })),
            Err(error) => {
                release(&db, claim).await;
                Err(error)
            }
        }
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
    pub async fn locked<E: Keyed<Key = Uuid>>(&self, id: Uuid, what: &str) -> AppResult<E::Model> {
        E::find()
            .filter(E::key_column().eq(id))
            .filter(policy::scope::<E>(&self.viewer))
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

/// A row as a JSON object of its columns, for the audit trail.
pub fn snapshot<M: ModelTrait>(model: &M) -> serde_json::Value {
    use sea_orm::IdenStatic;
    let columns = <<M::Entity as EntityTrait>::Column as Iterable>::iter();
    let object = columns
        .map(|column| {
            let value = sea_orm::sea_query::value::sea_value_to_json_value(&model.get(column));
            (column.as_str().to_owned(), value)
        })
        .collect();
    serde_json::Value::Object(object)
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
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(AppError::bad_input(
            "idempotencyKey",
            format!("an idempotency key has 1 to {MAX_IDEMPOTENCY_KEY} characters"),
        ));
    }
    let input = serde_json::to_string(input).map_err(|e| AppError::Internal(format!("cannot hash input: {e}")))?;
    let hash = sha256_hex(&format!("{operation}\n{input}"));
    let owner = owner(viewer);
    for _ in 0..2 {
        let row = idempotency_key::ActiveModel {
            id: Set(entity::new_id()),
            owner: Set(owner.clone()),
            key: Set(key.to_owned()),
            operation: Set(operation.to_owned()),
            request_hash: Set(hash.clone()),
            response: Set(None),
            created_at: Set(now),
            completed_at: Set(None),
        };
        let id = match &row.id {
            sea_orm::ActiveValue::Set(id) => *id,
            _ => Uuid::nil(),
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

/// Serialises a global id (for hashing inputs).
pub fn serialize_id<S: serde::Serializer>(id: &async_graphql::ID, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(id.as_str())
}

/// Serialises an optional global id (for hashing inputs).
pub fn serialize_opt_id<S: serde::Serializer>(
    id: &Option<async_graphql::ID>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => serializer.serialize_some(id.as_str()),
        None => serializer.serialize_none(),
    }
}

/// Serialises a value by its debug form (GraphQL enums, for hashing inputs).
pub fn serialize_debug<S: serde::Serializer, T: std::fmt::Debug>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format!("{value:?}"))
}

//! The root Mutation type: each mutation decodes its global ids and GraphQL enums into a command of
//! [`service`](crate::service), runs it, and loads the payload it returns. No business rule lives here:
//! who may write what, validation, the transaction, versions, idempotency and the audit trail are all in
//! the commands, which the command line and the sweeps call too.

mod case;
mod key;
mod outcome;
mod person;
mod programme;
mod referral;
mod volunteer;

use async_graphql::{Context, MergedObject};

use crate::error::{AppError, AppResult};
use crate::graphql::guard as policy;
use crate::graphql::types::{config, db};
use crate::service::access;
/// Kept here for the readers that serialise rows the same way as the audit trail.
pub use crate::service::write::snapshot;
use crate::service::write::{self, Actor, Operation};

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

/// Who runs a mutation: the request's connection and viewer, and the city's UTC offset.
fn actor<'a>(ctx: &'a Context<'_>) -> AppResult<Actor<'a>> {
    Ok(Actor { db: db(ctx)?, viewer: policy::viewer(ctx)?, city_offset: config(ctx)?.city_offset() })
}

/// Decodes a mutation's arguments into its command, after checking that the caller may run it at all
/// (so that a forbidden caller learns nothing from how its input is wrong). A refusal of an operation
/// carrying personal data is recorded like the commands' own refusals.
async fn prepare<T>(actor: &Actor<'_>, operation: &Operation, decode: impl FnOnce() -> AppResult<T>) -> AppResult<T> {
    match access::require(actor.viewer, operation.command).and_then(|()| decode()) {
        Ok(command) => Ok(command),
        Err(error) => Err(write::refused(actor, operation, error).await),
    }
}

/// The row `id` of `E` within the caller's scope, read fresh after a write (not from a loader that may
/// have cached it earlier in the request).
async fn reload<E>(ctx: &Context<'_>, id: uuid::Uuid, what: &str) -> AppResult<E::Model>
where
    E: crate::graphql::connection::Keyed<Key = uuid::Uuid>,
{
    use sea_orm::{ColumnTrait, QueryFilter};
    let scoped = policy::scoped(ctx)?;
    scoped
        .find::<E>()
        .filter(E::key_column().eq(id))
        .one(scoped.db())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no such {what}")))
}

//! Outcome mutations: decode the arguments into the commands of [`service::outcome`] and return the
//! changed outcome. The rules live in the service.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use entity::outcome;

use super::case::decode_opt;
use super::{actor, prepare, reload};
use crate::graphql::ids::{self, NodeType};
use crate::graphql::types::enums::OutcomeType;
use crate::graphql::types::outcome::Outcome;
use crate::service::access::Command;
use crate::service::outcome::{self as service, RecordOutcome};
use crate::service::write::Operation;

/// An outcome to record.
#[derive(InputObject)]
pub struct RecordOutcomeInput {
    /// The case the outcome belongs to. A case the caller may not see is NOT_FOUND.
    pub case_id: ID,
    /// What happened.
    pub outcome_type: OutcomeType,
    /// The programme that delivered it, when one did; the case must be enrolled in it.
    pub programme_id: Option<ID>,
    /// More about the outcome.
    pub note: Option<String>,
}

/// The outcome a mutation changed.
#[derive(SimpleObject)]
pub struct OutcomePayload {
    /// The outcome as it is after the change.
    pub outcome: Outcome,
}

#[derive(Default)]
pub struct OutcomeMutation;

#[Object]
impl OutcomeMutation {
    /// Records what happened for the person of a case (STAFF, or the volunteer who reported the case).
    /// It is unverified until STAFF verify it.
    async fn record_outcome(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The outcome.")] input: RecordOutcomeInput,
        #[graphql(desc = "Makes retries safe: the same key and input return the first result.")]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<OutcomePayload> {
        let actor = actor(ctx)?;
        let operation = Operation::new(Command::RecordOutcome, &[("input.note", input.note.is_some())]);
        let command = prepare(&actor, &operation, || {
            Ok(RecordOutcome {
                case_id: ids::decode_uuid(&input.case_id, NodeType::Case, "input.caseId")?,
                outcome_type: input.outcome_type.into(),
                programme_id: decode_opt(&input.programme_id, NodeType::Programme, "input.programmeId")?,
                note: input.note.clone(),
            })
        })
        .await?;
        let id = service::record(&actor, idempotency_key.as_deref(), &command).await?;
        payload(ctx, id).await
    }

    /// Verifies an outcome (STAFF): Dinsos checked that it happened. Verifying it again is CONFLICT.
    async fn verify_outcome(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The outcome.")] id: ID,
    ) -> async_graphql::Result<OutcomePayload> {
        let actor = actor(ctx)?;
        let operation = Operation::new(Command::VerifyOutcome, &[]);
        let id = prepare(&actor, &operation, || ids::decode_uuid(&id, NodeType::Outcome, "id")).await?;
        let id = service::verify(&actor, id).await?;
        payload(ctx, id).await
    }
}

/// The outcome after a write, read fresh within the caller's scope.
async fn payload(ctx: &Context<'_>, id: uuid::Uuid) -> async_graphql::Result<OutcomePayload> {
    Ok(OutcomePayload { outcome: Outcome(reload::<outcome::Entity>(ctx, id, "outcome").await?) })
}

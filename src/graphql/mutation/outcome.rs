//! Outcome mutations: STAFF, or the volunteer who reported the case, record what actually happened for
//! the person; STAFF verify it. Partners record outcomes by completing their referrals
//! (`completeReferral`), not here.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use entity::enums::{AuditAction, Role};
use entity::{case, enrollment, outcome, programme};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

use super::Write;
use crate::error::{AppError, AppResult};
use crate::graphql::ids::{self, NodeType};
use crate::graphql::types::db;
use crate::graphql::types::enums::OutcomeType;
use crate::graphql::types::outcome::Outcome;
use crate::policy::{self, require};

/// Longest note accepted.
const MAX_NOTE: usize = 2000;

/// An outcome to record.
#[derive(InputObject, Serialize)]
pub struct RecordOutcomeInput {
    /// The case the outcome belongs to. A case the caller may not see is NOT_FOUND.
    #[serde(serialize_with = "super::serialize_id")]
    pub case_id: ID,
    /// What happened.
    #[serde(serialize_with = "super::serialize_debug")]
    pub outcome_type: OutcomeType,
    /// The programme that delivered it, when one did; the case must be enrolled in it.
    #[serde(serialize_with = "super::serialize_opt_id")]
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
        require(ctx, &[Role::Staff, Role::Volunteer], "record outcomes")?;
        let id =
            run_write!(ctx, "recordOutcome", idempotency_key.as_deref(), &input, |write| record(&write, &input).await);
        payload(ctx, id).await
    }

    /// Verifies an outcome (STAFF): Dinsos checked that it happened. Verifying it again is CONFLICT.
    async fn verify_outcome(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The outcome.")] id: ID,
    ) -> async_graphql::Result<OutcomePayload> {
        require(ctx, &[Role::Staff], "verify outcomes")?;
        let id = run_write!(ctx, "verifyOutcome", None, &(), |write| verify(&write, &id).await);
        payload(ctx, id).await
    }
}

/// The outcome after a write, read fresh within the caller's scope.
async fn payload(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<OutcomePayload> {
    let scope = policy::scope::<outcome::Entity>(policy::viewer(ctx)?);
    let row = outcome::Entity::find_by_id(id).filter(scope).one(db(ctx)?).await.map_err(AppError::from)?;
    Ok(OutcomePayload { outcome: Outcome(row.ok_or_else(|| AppError::NotFound("no such outcome".into()))?) })
}

async fn record(write: &Write, input: &RecordOutcomeInput) -> AppResult<Uuid> {
    let txn = &write.txn;
    let case_id = ids::decode_uuid(&input.case_id, NodeType::Case, "input.caseId")?;
    let note = match input.note.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(note) if note.chars().count() > MAX_NOTE => {
            return Err(AppError::bad_input("input.note", format!("at most {MAX_NOTE} characters")));
        }
        note => note.map(str::to_owned),
    };
    // A volunteer sees only the cases they reported: any other case does not exist for them.
    let case = case::Entity::find_by_id(case_id)
        .filter(policy::scope::<case::Entity>(&write.viewer))
        .one(txn)
        .await?
        .ok_or_else(|| AppError::NotFound("no such case".into()))?;
    let programme_id = match &input.programme_id {
        Some(id) => {
            let id = ids::decode_uuid(id, NodeType::Programme, "input.programmeId")?;
            programme::Entity::find_by_id(id)
                .one(txn)
                .await?
                .ok_or_else(|| AppError::bad_input("input.programmeId", "no such programme"))?;
            let enrolled = enrollment::Entity::find()
                .select_only()
                .column(enrollment::Column::Id)
                .filter(enrollment::Column::ProgrammeId.eq(id))
                .filter(enrollment::Column::CaseId.eq(case.id))
                .into_tuple::<Uuid>()
                .one(txn)
                .await?;
            if enrolled.is_none() {
                return Err(AppError::bad_input("input.programmeId", "the case is not enrolled in this programme"));
            }
            Some(id)
        }
        None => None,
    };
    let outcome_type: entity::enums::OutcomeType = input.outcome_type.into();
    let row = outcome::ActiveModel {
        id: Set(entity::new_id()),
        case_id: Set(case.id),
        referral_id: Set(None),
        programme_id: Set(programme_id),
        outcome_type: Set(outcome_type),
        outcome_group: Set(outcome_type.group()),
        recorded_by: Set(write.viewer.label.clone()),
        recorded_at: Set(write.now),
        verified: Set(false),
        verified_at: Set(None),
        note: Set(note),
        created_at: Set(write.now),
        updated_at: Set(write.now),
    };
    let recorded = outcome::Entity::insert(row).exec_with_returning(txn).await?;
    write.audit(AuditAction::Create, "Outcome", recorded.id, Some(case.person_id), None, Some(&recorded)).await?;
    Ok(recorded.id)
}

async fn verify(write: &Write, id: &ID) -> AppResult<Uuid> {
    let txn = &write.txn;
    let id = ids::decode_uuid(id, NodeType::Outcome, "id")?;
    let current = write.locked::<outcome::Entity>(id, "outcome").await?;
    if current.verified {
        return Err(AppError::Conflict("the outcome is already verified".into()));
    }
    let person_id = case::Entity::find_by_id(current.case_id)
        .select_only()
        .column(case::Column::PersonId)
        .into_tuple::<Uuid>()
        .one(txn)
        .await?;
    let mut active = current.clone().into_active_model();
    active.verified = Set(true);
    active.verified_at = Set(Some(write.now.max(current.recorded_at)));
    active.updated_at = Set(write.now);
    let after = active.update(txn).await?;
    write.audit(AuditAction::Update, "Outcome", current.id, person_id, Some(&current), Some(&after)).await?;
    Ok(current.id)
}

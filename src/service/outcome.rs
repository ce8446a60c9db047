//! Outcome commands: STAFF, or the volunteer who reported the case, record what actually happened for the
//! person; STAFF verify it. Partners record outcomes by completing their referrals
//! ([`referral::transition`](super::referral::transition)), not here. Reading outcomes is not here.

use entity::enums::{AuditAction, OutcomeType};
use entity::{case, enrollment, outcome, programme};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

use super::access::Command;
use super::value::{self, Lines, MAX_NOTE};
use super::write::{Actor, Operation, Write, debug, run};
use crate::error::{AppError, AppResult};
use crate::service::perturbation;
use crate::service::scope;

/// An outcome to record.
#[derive(Debug, Clone, Serialize)]
pub struct RecordOutcome {
    /// A case the caller may not see is NOT_FOUND.
    pub case_id: Uuid,
    #[serde(serialize_with = "debug")]
    pub outcome_type: OutcomeType,
    /// The programme that delivered it; the case must be enrolled in it.
    pub programme_id: Option<Uuid>,
    pub note: Option<String>,
}

/// Records what happened for the person of a case (STAFF, or the volunteer who reported the case).
pub async fn record(actor: &Actor<'_>, idempotency_key: Option<&str>, input: &RecordOutcome) -> AppResult<Uuid> {
    let operation = Operation::new(Command::RecordOutcome, &[("input.note", input.note.is_some())]);
    run!(actor, &operation, idempotency_key, input, |write| record_in(&write, input).await)
}

/// Verifies an outcome (STAFF). Verifying it again is CONFLICT.
pub async fn verify(actor: &Actor<'_>, id: Uuid) -> AppResult<Uuid> {
    run!(actor, &Operation::new(Command::VerifyOutcome, &[]), None, &(), |write| verify_in(&write, id).await)
}

async fn record_in(write: &Write, input: &RecordOutcome) -> AppResult<Uuid> {
    let txn = &write.txn;
    let note = value::optional_text(input.note.as_deref(), "input.note", MAX_NOTE, Lines::Many)?;
    // A volunteer sees only the cases they reported: any other case does not exist for them.
    let case = case::Entity::find_by_id(input.case_id)
        .filter(scope::scope::<case::Entity>(&write.viewer))
        .one(txn)
        .await?
        .ok_or_else(|| AppError::NotFound("no such case".into()))?;
    let programme_id = match input.programme_id {
        Some(id) => {
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
    let row = outcome::ActiveModel {
        id: Set(entity::new_id()),
        case_id: Set(case.id),
        referral_id: Set(None),
        programme_id: Set(programme_id),
        outcome_type: Set(input.outcome_type),
        outcome_group: Set(input.outcome_type.group()),
        recorded_by: Set(write.viewer.label.clone()),
        recorded_at: Set(write.now),
        verified: Set(false),
        verified_at: Set(None),
        note: Set(note),
        created_at: Set(write.now),
        updated_at: Set(write.now),
        record_key: Set(perturbation::record_key()?),
    };
    let recorded = outcome::Entity::insert(row).exec_with_returning(txn).await?;
    write.audit(AuditAction::Create, "Outcome", recorded.id, Some(case.person_id), None, Some(&recorded)).await?;
    Ok(recorded.id)
}

async fn verify_in(write: &Write, id: Uuid) -> AppResult<Uuid> {
    let txn = &write.txn;
    let current = write.locked::<outcome::Entity>(id, "outcome").await?;
    if current.verified {
        return Err(AppError::Conflict("the outcome is already verified".into()));
    }
    let person_id = crate::service::case::person_of(txn, current.case_id).await?;
    let mut active = current.clone().into_active_model();
    active.verified = Set(true);
    active.verified_at = Set(Some(write.now.max(current.recorded_at)));
    active.updated_at = Set(write.now);
    let after = active.update(txn).await?;
    write.audit(AuditAction::Update, "Outcome", current.id, person_id, Some(&current), Some(&after)).await?;
    Ok(current.id)
}

//! Programme and enrollment commands (STAFF only): create and update programmes with the categories they
//! are open to, enrol cases in them, and record how a case left one (COMPLETED or EXITED). Reading
//! programmes and their statistics is not here.

use chrono::{DateTime, NaiveDate, Utc};
use entity::enums::{AuditAction, CaseStatus, EnrollmentStatus, PpksCategory, ProgrammeKind};
use entity::{case, case_category, enrollment, organisation, programme, programme_category};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

use super::access::Command;
use super::value::{self, Lines, MAX_CODE, MAX_NAME, MAX_NOTE, MAX_SUMMARY};
use super::write::{Actor, Operation, Write, check_version, debug, duplicate, run};
use crate::error::{AppError, AppResult};
use crate::service::perturbation;
use crate::service::scope;

/// A programme to create.
#[derive(Debug, Clone, Serialize)]
pub struct CreateProgramme {
    /// Short unique code, e.g. `RTLH-2026`.
    pub code: String,
    pub name: String,
    #[serde(serialize_with = "debug")]
    pub kind: ProgrammeKind,
    pub description: String,
    pub owner_organisation_id: Uuid,
    pub starts_on: NaiveDate,
    pub ends_on: Option<NaiveDate>,
    pub target: i32,
    pub budget_idr: i64,
    /// Empty opens the programme to every case.
    #[serde(serialize_with = "debug")]
    pub eligible_categories: Vec<PpksCategory>,
}

/// Changes to a programme; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UpdateProgramme {
    pub name: Option<String>,
    pub kind: Option<ProgrammeKind>,
    pub description: Option<String>,
    pub owner_organisation_id: Option<Uuid>,
    pub starts_on: Option<NaiveDate>,
    /// `Some(None)` makes the programme open-ended.
    pub ends_on: Option<Option<NaiveDate>>,
    pub target: Option<i32>,
    pub budget_idr: Option<i64>,
    /// The new full list (replacing the old one); empty opens it to every case.
    pub eligible_categories: Option<Vec<PpksCategory>>,
}

/// A case to enrol in a programme.
#[derive(Debug, Clone, Serialize)]
pub struct EnrolCase {
    pub programme_id: Uuid,
    pub case_id: Uuid,
    /// Default now.
    pub enrolled_at: Option<DateTime<Utc>>,
}

/// How an enrollment ends.
#[derive(Debug, Clone)]
pub struct RecordExit {
    /// COMPLETED or EXITED.
    pub status: EnrollmentStatus,
    /// Default now.
    pub exited_at: Option<DateTime<Utc>>,
    /// Required with EXITED, refused with COMPLETED.
    pub reason: Option<String>,
}

/// Creates a programme (STAFF), at version 1.
pub async fn create(actor: &Actor<'_>, idempotency_key: Option<&str>, input: &CreateProgramme) -> AppResult<Uuid> {
    run!(actor, &Operation::new(Command::CreateProgramme, &[]), idempotency_key, input, |write| create_in(
        &write, input
    )
    .await)
}

/// Updates a programme (STAFF). Changing its eligible categories does not touch existing enrollments.
pub async fn update(actor: &Actor<'_>, id: Uuid, version: i32, input: &UpdateProgramme) -> AppResult<Uuid> {
    run!(actor, &Operation::new(Command::UpdateProgramme, &[]), None, &(), |write| update_in(
        &write, id, version, input
    )
    .await)
}

/// Enrols a case in a programme (STAFF), once.
pub async fn enrol(actor: &Actor<'_>, idempotency_key: Option<&str>, input: &EnrolCase) -> AppResult<Uuid> {
    run!(actor, &Operation::new(Command::EnrolCase, &[]), idempotency_key, input, |write| enrol_in(&write, input).await)
}

/// Records that an enrolled case left its programme (STAFF).
pub async fn record_exit(actor: &Actor<'_>, id: Uuid, version: i32, exit: &RecordExit) -> AppResult<Uuid> {
    let operation = Operation::new(Command::RecordEnrollmentExit, &[("reason", exit.reason.is_some())]);
    run!(actor, &operation, None, &(), |write| record_exit_in(&write, id, version, exit).await)
}

fn not_negative<T: PartialOrd + Default>(value: T, field: &str) -> AppResult<T> {
    if value < T::default() { Err(AppError::bad_input(field, "must not be negative")) } else { Ok(value) }
}

fn period(starts_on: NaiveDate, ends_on: Option<NaiveDate>) -> AppResult<()> {
    value::day(starts_on, "input.startsOn")?;
    if let Some(ends_on) = ends_on {
        value::day(ends_on, "input.endsOn")?;
        if ends_on < starts_on {
            return Err(AppError::bad_input("input.endsOn", "the programme cannot end before it starts"));
        }
    }
    Ok(())
}

async fn check_owner(write: &Write, id: Uuid) -> AppResult<Uuid> {
    organisation::Entity::find_by_id(id)
        .one(&write.txn)
        .await?
        .ok_or_else(|| AppError::bad_input("input.ownerOrganisationId", "no such organisation"))?;
    Ok(id)
}

/// Replaces the eligible categories of `programme` with `categories`.
async fn set_categories(write: &Write, programme: Uuid, categories: &[PpksCategory]) -> AppResult<()> {
    programme_category::Entity::delete_many()
        .filter(programme_category::Column::ProgrammeId.eq(programme))
        .exec(&write.txn)
        .await?;
    let mut categories = categories.to_vec();
    categories.sort();
    categories.dedup();
    if !categories.is_empty() {
        programme_category::Entity::insert_many(
            categories.into_iter().map(|category| programme_category::ActiveModel {
                programme_id: Set(programme),
                category: Set(category),
            }),
        )
        .exec_without_returning(&write.txn)
        .await?;
    }
    Ok(())
}

async fn create_in(write: &Write, input: &CreateProgramme) -> AppResult<Uuid> {
    let txn = &write.txn;
    let code = value::text(&input.code, "input.code", MAX_CODE, Lines::One)?;
    let name = value::text(&input.name, "input.name", MAX_NAME, Lines::One)?;
    let description = value::text(&input.description, "input.description", MAX_SUMMARY, Lines::Many)?;
    period(input.starts_on, input.ends_on)?;
    let target = not_negative(input.target, "input.target")?;
    let budget_idr = not_negative(input.budget_idr, "input.budgetIdr")?;
    let owner = check_owner(write, input.owner_organisation_id).await?;
    let taken = programme::Entity::find()
        .select_only()
        .column(programme::Column::Id)
        .filter(programme::Column::Code.eq(code.as_str()))
        .into_tuple::<Uuid>()
        .one(txn)
        .await?;
    let in_use = format!("a programme with the code `{code}` exists (input.code)");
    if taken.is_some() {
        return Err(AppError::Conflict(in_use));
    }
    let row = programme::ActiveModel {
        id: Set(entity::new_id()),
        code: Set(code),
        name: Set(name),
        kind: Set(input.kind),
        description: Set(description),
        owner_organisation_id: Set(owner),
        starts_on: Set(input.starts_on),
        ends_on: Set(input.ends_on),
        target: Set(target),
        budget_idr: Set(budget_idr),
        version: Set(1),
        created_at: Set(write.now),
        updated_at: Set(write.now),
    };
    let created = programme::Entity::insert(row).exec_with_returning(txn).await.map_err(|e| duplicate(e, &in_use))?;
    set_categories(write, created.id, &input.eligible_categories).await?;
    write.audit(AuditAction::Create, "Programme", created.id, None, None, Some(&created)).await?;
    Ok(created.id)
}

async fn update_in(write: &Write, id: Uuid, version: i32, input: &UpdateProgramme) -> AppResult<Uuid> {
    let txn = &write.txn;
    let current = write.locked::<programme::Entity>(id, "programme").await?;
    check_version("programme", current.version, version)?;
    let mut active = current.clone().into_active_model();
    if let Some(name) = &input.name {
        active.name = Set(value::text(name, "input.name", MAX_NAME, Lines::One)?);
    }
    if let Some(kind) = input.kind {
        active.kind = Set(kind);
    }
    if let Some(description) = &input.description {
        active.description = Set(value::text(description, "input.description", MAX_SUMMARY, Lines::Many)?);
    }
    if let Some(owner) = input.owner_organisation_id {
        active.owner_organisation_id = Set(check_owner(write, owner).await?);
    }
    let starts_on = input.starts_on.unwrap_or(current.starts_on);
    let ends_on = input.ends_on.unwrap_or(current.ends_on);
    period(starts_on, ends_on)?;
    active.starts_on = Set(starts_on);
    active.ends_on = Set(ends_on);
    if let Some(target) = input.target {
        active.target = Set(not_negative(target, "input.target")?);
    }
    if let Some(budget) = input.budget_idr {
        active.budget_idr = Set(not_negative(budget, "input.budgetIdr")?);
    }
    if let Some(categories) = &input.eligible_categories {
        set_categories(write, current.id, categories).await?;
    }
    active.version = Set(current.version + 1);
    active.updated_at = Set(write.now);
    let after = active.update(txn).await?;
    write.audit(AuditAction::Update, "Programme", current.id, None, Some(&current), Some(&after)).await?;
    Ok(current.id)
}

async fn enrol_in(write: &Write, input: &EnrolCase) -> AppResult<Uuid> {
    let txn = &write.txn;
    let enrolled_at = input.enrolled_at.unwrap_or(write.now);
    let enrolled_at = value::instant(enrolled_at, "input.enrolledAt")?;
    if enrolled_at > write.now {
        return Err(AppError::bad_input("input.enrolledAt", "a case cannot be enrolled in the future"));
    }
    let programme = programme::Entity::find_by_id(input.programme_id)
        .one(txn)
        .await?
        .ok_or_else(|| AppError::bad_input("input.programmeId", "no such programme"))?;
    // Locking the case serialises concurrent enrollments of it.
    let case = case::Entity::find_by_id(input.case_id)
        .filter(scope::scope::<case::Entity>(&write.viewer))
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(|| AppError::bad_input("input.caseId", "no such case"))?;
    if case.status == CaseStatus::Closed {
        return Err(AppError::Conflict("the case is CLOSED; reopen it before enrolling it".into()));
    }
    if programme.ends_on.is_some_and(|ends_on| ends_on < enrolled_at.date_naive()) {
        return Err(AppError::bad_input("input.programmeId", "the programme ended before the enrollment"));
    }
    let existing = enrollment::Entity::find()
        .filter(enrollment::Column::ProgrammeId.eq(programme.id))
        .filter(enrollment::Column::CaseId.eq(case.id))
        .one(txn)
        .await?;
    match existing {
        Some(existing) if existing.status == EnrollmentStatus::Enrolled => {
            return Err(AppError::Conflict("the case is already enrolled in this programme".into()));
        }
        Some(existing) => {
            return Err(AppError::Conflict(format!(
                "the case was enrolled in this programme before and is {}; a case is enrolled in a programme once",
                existing.status.as_str()
            )));
        }
        None => {}
    }
    let eligible: Vec<PpksCategory> = programme_category::Entity::find()
        .filter(programme_category::Column::ProgrammeId.eq(programme.id))
        .all(txn)
        .await?
        .into_iter()
        .map(|row| row.category)
        .collect();
    if !eligible.is_empty() {
        let overlaps = case_category::Entity::find()
            .filter(case_category::Column::CaseId.eq(case.id))
            .filter(case_category::Column::Category.is_in(eligible.iter().map(|c| c.as_str())))
            .one(txn)
            .await?
            .is_some();
        if !overlaps {
            return Err(AppError::bad_input(
                "input.caseId",
                "none of the case's categories is one the programme is open to",
            ));
        }
    }
    let row = enrollment::ActiveModel {
        id: Set(entity::new_id()),
        programme_id: Set(programme.id),
        case_id: Set(case.id),
        status: Set(EnrollmentStatus::Enrolled),
        enrolled_at: Set(enrolled_at),
        exited_at: Set(None),
        exit_reason: Set(None),
        version: Set(1),
        created_at: Set(write.now),
        updated_at: Set(write.now),
        record_key: Set(perturbation::record_key()?),
    };
    let enrolled = enrollment::Entity::insert(row)
        .exec_with_returning(txn)
        .await
        .map_err(|e| duplicate(e, "the case is already enrolled in this programme"))?;
    write.audit(AuditAction::Create, "Enrollment", enrolled.id, Some(case.person_id), None, Some(&enrolled)).await?;
    Ok(enrolled.id)
}

async fn record_exit_in(write: &Write, id: Uuid, version: i32, exit: &RecordExit) -> AppResult<Uuid> {
    let txn = &write.txn;
    let reason = value::optional_text(exit.reason.as_deref(), "reason", MAX_NOTE, Lines::Many)?;
    let reason = match (exit.status, reason) {
        (EnrollmentStatus::Enrolled, _) => {
            return Err(AppError::bad_input("status", "an exit is COMPLETED or EXITED"));
        }
        (EnrollmentStatus::Exited, None) => {
            return Err(AppError::bad_input("reason", "leaving a programme early needs a reason"));
        }
        (EnrollmentStatus::Exited, Some(reason)) => Some(reason),
        (EnrollmentStatus::Completed, Some(_)) => {
            return Err(AppError::bad_input("reason", "only EXITED takes a reason"));
        }
        (EnrollmentStatus::Completed, None) => None,
    };
    let exited_at = value::instant(exit.exited_at.unwrap_or(write.now), "exitedAt")?;
    if exited_at > write.now {
        return Err(AppError::bad_input("exitedAt", "must not be in the future"));
    }
    let current = write.locked::<enrollment::Entity>(id, "enrollment").await?;
    check_version("enrollment", current.version, version)?;
    if current.status != EnrollmentStatus::Enrolled {
        return Err(AppError::Conflict(format!("the enrollment already ended: it is {}", current.status.as_str())));
    }
    if exited_at < current.enrolled_at {
        return Err(AppError::bad_input("exitedAt", "a case cannot leave a programme before it was enrolled"));
    }
    let person_id = crate::service::case::person_of(txn, current.case_id).await?;
    let mut active = current.clone().into_active_model();
    active.status = Set(exit.status);
    active.exited_at = Set(Some(exited_at));
    active.exit_reason = Set(reason);
    active.version = Set(current.version + 1);
    active.updated_at = Set(write.now);
    let after = active.update(txn).await?;
    write.audit(AuditAction::Update, "Enrollment", current.id, person_id, Some(&current), Some(&after)).await?;
    Ok(current.id)
}

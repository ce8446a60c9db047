//! Programme and enrollment mutations (STAFF only): create and update programmes with the categories
//! they are open to, enrol cases in them, and record how a case left one (COMPLETED or EXITED).

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use entity::enums::{AuditAction, CaseStatus, EnrollmentStatus as DbEnrollmentStatus, Role};
use entity::{case, case_category, enrollment, organisation, programme, programme_category};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
    SqlErr,
};
use serde::Serialize;
use uuid::Uuid;

use super::{Write, check_version};
use crate::error::{AppError, AppResult};
use crate::graphql::ids::{self, NodeType};
use crate::graphql::types::db;
use crate::graphql::types::enums::{EnrollmentStatus, PpksCategory, ProgrammeKind};
use crate::graphql::types::programme::{Enrollment, Programme};
use crate::policy::{self, require};

/// Longest programme code accepted.
const MAX_CODE: usize = 50;

/// Longest programme name or exit reason accepted.
const MAX_NAME: usize = 200;

/// Longest description accepted.
const MAX_DESCRIPTION: usize = 4000;

/// A programme to create.
#[derive(InputObject, Serialize)]
pub struct CreateProgrammeInput {
    /// Short unique code, e.g. `RTLH-2026`. A code already in use is CONFLICT.
    pub code: String,
    /// Name.
    pub name: String,
    /// What the programme does.
    #[serde(serialize_with = "super::serialize_debug")]
    pub kind: ProgrammeKind,
    /// What the programme offers and to whom.
    pub description: String,
    /// The organisation that owns and runs the programme.
    #[serde(serialize_with = "super::serialize_id")]
    pub owner_organisation_id: ID,
    /// First day of the programme period.
    pub starts_on: NaiveDate,
    /// Last day of the programme period, on or after `startsOn`; leave out when open-ended.
    pub ends_on: Option<NaiveDate>,
    /// How many people the programme aims to reach (0 or more).
    pub target: i32,
    /// Budget in whole rupiah (IDR), 0 or more.
    pub budget_idr: i64,
    /// The PPKS categories the programme is open to; leave out or empty to open it to every case.
    #[serde(serialize_with = "super::serialize_debug")]
    pub eligible_categories: Option<Vec<PpksCategory>>,
}

/// Changes to a programme; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateProgrammeInput {
    /// New name.
    pub name: Option<String>,
    /// New kind.
    pub kind: Option<ProgrammeKind>,
    /// New description.
    pub description: Option<String>,
    /// New owner organisation.
    pub owner_organisation_id: Option<ID>,
    /// New first day of the period.
    pub starts_on: Option<NaiveDate>,
    /// New last day of the period; null makes the programme open-ended.
    pub ends_on: MaybeUndefined<NaiveDate>,
    /// New target (0 or more).
    pub target: Option<i32>,
    /// New budget in whole rupiah (0 or more).
    pub budget_idr: Option<i64>,
    /// The new full list of eligible categories (replacing the old one); empty opens it to every case.
    pub eligible_categories: Option<Vec<PpksCategory>>,
}

/// A case to enrol in a programme.
#[derive(InputObject, Serialize)]
pub struct EnrolCaseInput {
    /// The programme.
    #[serde(serialize_with = "super::serialize_id")]
    pub programme_id: ID,
    /// The case; it must carry one of the programme's eligible categories, if the programme lists any.
    #[serde(serialize_with = "super::serialize_id")]
    pub case_id: ID,
    /// When the case was enrolled; default now. Not in the future.
    pub enrolled_at: Option<DateTime<Utc>>,
}

/// The programme a mutation changed.
#[derive(SimpleObject)]
pub struct ProgrammePayload {
    /// The programme as it is after the change.
    pub programme: Programme,
}

/// The enrollment a mutation changed.
#[derive(SimpleObject)]
pub struct EnrollmentPayload {
    /// The enrollment as it is after the change.
    pub enrollment: Enrollment,
}

#[derive(Default)]
pub struct ProgrammeMutation;

#[Object]
impl ProgrammeMutation {
    /// Creates a programme (STAFF), at version 1.
    async fn create_programme(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The programme.")] input: CreateProgrammeInput,
        #[graphql(desc = "Makes retries safe: the same key and input return the first result.")]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<ProgrammePayload> {
        require(ctx, &[Role::Staff], "create programmes")?;
        let id = run_write!(ctx, "createProgramme", idempotency_key.as_deref(), &input, |write| create(&write, &input)
            .await);
        payload(ctx, id).await
    }

    /// Updates a programme (STAFF). Changing its eligible categories does not touch existing enrollments.
    async fn update_programme(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The programme.")] id: ID,
        #[graphql(desc = "The `version` you last read; if it changed since, nothing happens and you get CONFLICT.")]
        version: i32,
        #[graphql(desc = "What to change.")] input: UpdateProgrammeInput,
    ) -> async_graphql::Result<ProgrammePayload> {
        require(ctx, &[Role::Staff], "update programmes")?;
        let id = run_write!(ctx, "updateProgramme", None, &(), |write| update(&write, &id, version, &input).await);
        payload(ctx, id).await
    }

    /// Enrols a case in a programme (STAFF). A case is enrolled in a programme at most once: enrolling
    /// it again is CONFLICT. A case none of whose categories the programme is open to is refused.
    async fn enrol_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case and the programme.")] input: EnrolCaseInput,
        #[graphql(desc = "Makes retries safe: the same key and input return the first result.")]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<EnrollmentPayload> {
        require(ctx, &[Role::Staff], "enrol cases in programmes")?;
        let id = run_write!(ctx, "enrolCase", idempotency_key.as_deref(), &input, |write| enrol(&write, &input).await);
        enrollment_payload(ctx, id).await
    }

    /// Records that an enrolled case left its programme (STAFF): COMPLETED when it went through to the
    /// end, EXITED (with a `reason`) when it left early. An enrollment that already ended is CONFLICT.
    async fn record_enrollment_exit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The enrollment.")] id: ID,
        #[graphql(desc = "The `version` you last read; if it changed since, nothing happens and you get CONFLICT.")]
        version: i32,
        #[graphql(desc = "COMPLETED or EXITED.")] status: EnrollmentStatus,
        #[graphql(desc = "When the case left; default now. Not in the future, not before it was enrolled.")]
        exited_at: Option<DateTime<Utc>>,
        #[graphql(desc = "Why the case left early: required with EXITED, refused with COMPLETED.")] reason: Option<
            String,
        >,
    ) -> async_graphql::Result<EnrollmentPayload> {
        require(ctx, &[Role::Staff], "record enrollment exits")?;
        let exit = Exit { status: status.into(), exited_at, reason };
        let id =
            run_write!(ctx, "recordEnrollmentExit", None, &(), |write| record_exit(&write, &id, version, exit).await);
        enrollment_payload(ctx, id).await
    }
}

/// The programme after a write, read fresh within the caller's scope.
async fn payload(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<ProgrammePayload> {
    let scope = policy::scope::<programme::Entity>(policy::viewer(ctx)?);
    let row = programme::Entity::find_by_id(id).filter(scope).one(db(ctx)?).await.map_err(AppError::from)?;
    Ok(ProgrammePayload { programme: Programme(row.ok_or_else(|| AppError::NotFound("no such programme".into()))?) })
}

/// The enrollment after a write, read fresh within the caller's scope.
async fn enrollment_payload(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<EnrollmentPayload> {
    let scope = policy::scope::<enrollment::Entity>(policy::viewer(ctx)?);
    let row = enrollment::Entity::find_by_id(id).filter(scope).one(db(ctx)?).await.map_err(AppError::from)?;
    let row = row.ok_or_else(|| AppError::NotFound("no such enrollment".into()))?;
    Ok(EnrollmentPayload { enrollment: Enrollment(row) })
}

fn text(value: &str, field: &str, max: usize) -> AppResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AppError::bad_input(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(AppError::bad_input(field, format!("at most {max} characters")));
    }
    Ok(value.to_owned())
}

fn not_negative<T: PartialOrd + Default>(value: T, field: &str) -> AppResult<T> {
    if value < T::default() { Err(AppError::bad_input(field, "must not be negative")) } else { Ok(value) }
}

fn period(starts_on: NaiveDate, ends_on: Option<NaiveDate>) -> AppResult<()> {
    match ends_on {
        Some(ends_on) if ends_on < starts_on => {
            Err(AppError::bad_input("input.endsOn", "the programme cannot end before it starts"))
        }
        _ => Ok(()),
    }
}

async fn check_owner(write: &Write, id: &ID) -> AppResult<Uuid> {
    let id = ids::decode_uuid(id, NodeType::Organisation, "input.ownerOrganisationId")?;
    organisation::Entity::find_by_id(id)
        .one(&write.txn)
        .await?
        .ok_or_else(|| AppError::bad_input("input.ownerOrganisationId", "no such organisation"))?;
    Ok(id)
}

/// A unique-constraint violation as the CONFLICT it means; other errors unchanged.
fn duplicate(error: DbErr, message: &str) -> AppError {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => AppError::Conflict(message.to_owned()),
        _ => error.into(),
    }
}

/// Replaces the eligible categories of `programme` with `categories`.
async fn set_categories(write: &Write, programme: Uuid, categories: &[PpksCategory]) -> AppResult<()> {
    programme_category::Entity::delete_many()
        .filter(programme_category::Column::ProgrammeId.eq(programme))
        .exec(&write.txn)
        .await?;
    let mut categories: Vec<entity::enums::PpksCategory> = categories.iter().map(|c| (*c).into()).collect();
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

async fn create(write: &Write, input: &CreateProgrammeInput) -> AppResult<Uuid> {
    let txn = &write.txn;
    let code = text(&input.code, "input.code", MAX_CODE)?;
    let name = text(&input.name, "input.name", MAX_NAME)?;
    let description = text(&input.description, "input.description", MAX_DESCRIPTION)?;
    period(input.starts_on, input.ends_on)?;
    let target = not_negative(input.target, "input.target")?;
    let budget_idr = not_negative(input.budget_idr, "input.budgetIdr")?;
    let owner = check_owner(write, &input.owner_organisation_id).await?;
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
        kind: Set(input.kind.into()),
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
    set_categories(write, created.id, input.eligible_categories.as_deref().unwrap_or_default()).await?;
    write.audit(AuditAction::Create, "Programme", created.id, None, None, Some(&created)).await?;
    Ok(created.id)
}

async fn update(write: &Write, id: &ID, version: i32, input: &UpdateProgrammeInput) -> AppResult<Uuid> {
    let txn = &write.txn;
    let id = ids::decode_uuid(id, NodeType::Programme, "id")?;
    let current = write.locked::<programme::Entity>(id, "programme").await?;
    check_version("programme", current.version, version)?;
    let mut active = current.clone().into_active_model();
    if let Some(name) = &input.name {
        active.name = Set(text(name, "input.name", MAX_NAME)?);
    }
    if let Some(kind) = input.kind {
        active.kind = Set(kind.into());
    }
    if let Some(description) = &input.description {
        active.description = Set(text(description, "input.description", MAX_DESCRIPTION)?);
    }
    if let Some(owner) = &input.owner_organisation_id {
        active.owner_organisation_id = Set(check_owner(write, owner).await?);
    }
    let starts_on = input.starts_on.unwrap_or(current.starts_on);
    let ends_on = match &input.ends_on {
        MaybeUndefined::Undefined => current.ends_on,
        MaybeUndefined::Null => None,
        MaybeUndefined::Value(day) => Some(*day),
    };
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

async fn enrol(write: &Write, input: &EnrolCaseInput) -> AppResult<Uuid> {
    let txn = &write.txn;
    let programme_id = ids::decode_uuid(&input.programme_id, NodeType::Programme, "input.programmeId")?;
    let case_id = ids::decode_uuid(&input.case_id, NodeType::Case, "input.caseId")?;
    let enrolled_at = input.enrolled_at.unwrap_or(write.now);
    if enrolled_at > write.now {
        return Err(AppError::bad_input("input.enrolledAt", "a case cannot be enrolled in the future"));
    }
    let programme = programme::Entity::find_by_id(programme_id)
        .one(txn)
        .await?
        .ok_or_else(|| AppError::bad_input("input.programmeId", "no such programme"))?;
    // Locking the case serialises concurrent enrollments of it.
    let case = case::Entity::find_by_id(case_id)
        .filter(policy::scope::<case::Entity>(&write.viewer))
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
        Some(existing) if existing.status == DbEnrollmentStatus::Enrolled => {
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
    let eligible: Vec<entity::enums::PpksCategory> = programme_category::Entity::find()
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
        status: Set(DbEnrollmentStatus::Enrolled),
        enrolled_at: Set(enrolled_at),
        exited_at: Set(None),
        exit_reason: Set(None),
        version: Set(1),
        created_at: Set(write.now),
        updated_at: Set(write.now),
    };
    let enrolled = enrollment::Entity::insert(row)
        .exec_with_returning(txn)
        .await
        .map_err(|e| duplicate(e, "the case is already enrolled in this programme"))?;
    write.audit(AuditAction::Create, "Enrollment", enrolled.id, Some(case.person_id), None, Some(&enrolled)).await?;
    Ok(enrolled.id)
}

/// How an enrollment ends.
struct Exit {
    status: DbEnrollmentStatus,
    exited_at: Option<DateTime<Utc>>,
    reason: Option<String>,
}

async fn record_exit(write: &Write, id: &ID, version: i32, exit: Exit) -> AppResult<Uuid> {
    let txn = &write.txn;
    let id = ids::decode_uuid(id, NodeType::Enrollment, "id")?;
    let reason = exit.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    let reason = match (exit.status, reason) {
        (DbEnrollmentStatus::Enrolled, _) => {
            return Err(AppError::bad_input("status", "an exit is COMPLETED or EXITED"));
        }
        (DbEnrollmentStatus::Exited, None) => {
            return Err(AppError::bad_input("reason", "leaving a programme early needs a reason"));
        }
        (DbEnrollmentStatus::Exited, Some(reason)) => Some(text(reason, "reason", MAX_NAME)?),
        (DbEnrollmentStatus::Completed, Some(_)) => {
            return Err(AppError::bad_input("reason", "only EXITED takes a reason"));
        }
        (DbEnrollmentStatus::Completed, None) => None,
    };
    let exited_at = exit.exited_at.unwrap_or(write.now);
    if exited_at > write.now {
        return Err(AppError::bad_input("exitedAt", "must not be in the future"));
    }
    let current = write.locked::<enrollment::Entity>(id, "enrollment").await?;
    check_version("enrollment", current.version, version)?;
    if current.status != DbEnrollmentStatus::Enrolled {
        return Err(AppError::Conflict(format!("the enrollment already ended: it is {}", current.status.as_str())));
    }
    if exited_at < current.enrolled_at {
        return Err(AppError::bad_input("exitedAt", "a case cannot leave a programme before it was enrolled"));
    }
    let person_id = case::Entity::find_by_id(current.case_id)
        .select_only()
        .column(case::Column::PersonId)
        .into_tuple::<Uuid>()
        .one(txn)
        .await?;
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

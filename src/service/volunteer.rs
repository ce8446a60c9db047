//! Volunteer commands (STAFF only): register a PSM volunteer, update their record, record the trainings
//! (Bimtek) they attended and the awards they received, and deactivate or retire them. Volunteers keep
//! their own profile read-only: Dinsos keeps the register. Reading volunteers is not here.

use chrono::NaiveDate;
use entity::enums::{AuditAction, PsksType, Sex, VolunteerStatus};
use entity::{award, organisation, training_attendance, volunteer};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel, QuerySelect};
use serde::Serialize;
use uuid::Uuid;

use super::access::Command;
use super::case::check_kelurahan;
use super::value::{self, Lines, MAX_NAME};
use super::write::{Actor, Operation, Write, check_version, debug, run};
use crate::error::{AppError, AppResult};
use crate::service::perturbation;

/// Most hours one training attendance may record.
const MAX_HOURS: i32 = 500;

/// A volunteer to register. They start ACTIVE.
#[derive(Debug, Clone, Serialize)]
pub struct RegisterVolunteer {
    /// Full name (personal data).
    pub full_name: String,
    /// Mobile phone number (personal data).
    pub phone: Option<String>,
    #[serde(serialize_with = "debug")]
    pub gender: Sex,
    pub birth_year: i32,
    /// Default COMMUNITY_SOCIAL_WORKER (a PSM).
    #[serde(serialize_with = "debug")]
    pub psks_type: Option<PsksType>,
    pub served_since: NaiveDate,
    pub home_kelurahan_code: String,
    pub kelurahan_code: String,
}

/// Changes to a volunteer's record; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UpdateVolunteer {
    pub full_name: Option<String>,
    /// An empty string removes the phone number.
    pub phone: Option<String>,
    pub gender: Option<Sex>,
    pub birth_year: Option<i32>,
    pub psks_type: Option<PsksType>,
    pub served_since: Option<NaiveDate>,
    pub home_kelurahan_code: Option<String>,
    pub kelurahan_code: Option<String>,
}

/// A training (Bimtek, bimbingan teknis) a volunteer attended.
#[derive(Debug, Clone, Serialize)]
pub struct RecordTrainingAttendance {
    pub volunteer_id: Uuid,
    pub course: String,
    pub organiser_id: Option<Uuid>,
    pub attended_on: NaiveDate,
    pub hours: i32,
}

/// An award given to a volunteer.
#[derive(Debug, Clone, Serialize)]
pub struct RecordAward {
    pub volunteer_id: Uuid,
    pub title: String,
    pub awarded_on: NaiveDate,
    pub awarded_by: String,
}

/// Registers a PSM volunteer (STAFF). They start ACTIVE, at version 1.
pub async fn register(actor: &Actor<'_>, idempotency_key: Option<&str>, input: &RegisterVolunteer) -> AppResult<Uuid> {
    let operation =
        Operation::new(Command::RegisterVolunteer, &[("input.fullName", true), ("input.phone", input.phone.is_some())]);
    run!(actor, &operation, idempotency_key, input, |write| register_in(&write, input).await)
}

/// Updates a volunteer's record (STAFF).
pub async fn update(actor: &Actor<'_>, id: Uuid, version: i32, input: &UpdateVolunteer) -> AppResult<Uuid> {
    let operation = Operation::new(
        Command::UpdateVolunteer,
        &[("input.fullName", input.full_name.is_some()), ("input.phone", input.phone.is_some())],
    );
    run!(actor, &operation, None, &(), |write| update_in(&write, id, version, input).await)
}

/// Records a training a volunteer attended (STAFF).
pub async fn record_training(
    actor: &Actor<'_>,
    idempotency_key: Option<&str>,
    input: &RecordTrainingAttendance,
) -> AppResult<Uuid> {
    let operation = Operation::new(Command::RecordTrainingAttendance, &[]);
    run!(actor, &operation, idempotency_key, input, |write| record_training_in(&write, input).await)
}

/// Records an award given to a volunteer (STAFF).
pub async fn record_award(actor: &Actor<'_>, idempotency_key: Option<&str>, input: &RecordAward) -> AppResult<Uuid> {
    let operation = Operation::new(Command::RecordAward, &[]);
    run!(actor, &operation, idempotency_key, input, |write| record_award_in(&write, input).await)
}

/// Stops a volunteer's service (STAFF): INACTIVE for a pause, RETIRED for good. An ACTIVE volunteer may
/// become either, an INACTIVE one RETIRED; anything else is CONFLICT.
pub async fn deactivate(actor: &Actor<'_>, id: Uuid, version: i32, to: VolunteerStatus) -> AppResult<Uuid> {
    let operation = Operation::new(Command::DeactivateVolunteer, &[]);
    run!(actor, &operation, None, &(), |write| deactivate_in(&write, id, version, to).await)
}

fn name(value: &str, field: &str) -> AppResult<String> {
    value::text(value, field, MAX_NAME, Lines::One)
}

async fn register_in(write: &Write, input: &RegisterVolunteer) -> AppResult<Uuid> {
    let txn = &write.txn;
    let today = write.today();
    let row = volunteer::ActiveModel {
        id: Set(entity::new_id()),
        full_name: Set(name(&input.full_name, "input.fullName")?),
        phone: Set(value::phone(input.phone.as_deref(), "input.phone")?),
        gender: Set(input.gender),
        birth_year: Set(value::birth_year(input.birth_year, today, "input.birthYear")?),
        psks_type: Set(input.psks_type.unwrap_or(PsksType::CommunitySocialWorker)),
        status: Set(VolunteerStatus::Active),
        served_since: Set(value::past_day(input.served_since, today, "input.servedSince")?),
        home_kelurahan_code: Set(value::code(&input.home_kelurahan_code, "input.homeKelurahanCode")?),
        kelurahan_code: Set(value::code(&input.kelurahan_code, "input.kelurahanCode")?),
        version: Set(1),
        created_at: Set(write.now),
        updated_at: Set(write.now),
        record_key: Set(perturbation::record_key()?),
    };
    check_kelurahan(txn, &input.home_kelurahan_code, "input.homeKelurahanCode").await?;
    check_kelurahan(txn, &input.kelurahan_code, "input.kelurahanCode").await?;
    let registered = volunteer::Entity::insert(row).exec_with_returning(txn).await?;
    write.audit(AuditAction::Create, "Volunteer", registered.id, None, None, Some(&registered)).await?;
    Ok(registered.id)
}

/// The volunteer `id`, locked for the rest of the transaction, at `version`.
async fn locked_volunteer(write: &Write, id: Uuid, version: i32) -> AppResult<volunteer::Model> {
    let current = write.locked::<volunteer::Entity>(id, "volunteer").await?;
    check_version("volunteer", current.version, version)?;
    Ok(current)
}

async fn update_in(write: &Write, id: Uuid, version: i32, input: &UpdateVolunteer) -> AppResult<Uuid> {
    let txn = &write.txn;
    let today = write.today();
    let current = locked_volunteer(write, id, version).await?;
    let mut active = current.clone().into_active_model();
    if let Some(full_name) = &input.full_name {
        active.full_name = Set(name(full_name, "input.fullName")?);
    }
    if let Some(number) = &input.phone {
        active.phone = Set(value::phone(Some(number), "input.phone")?);
    }
    if let Some(gender) = input.gender {
        active.gender = Set(gender);
    }
    if let Some(year) = input.birth_year {
        active.birth_year = Set(value::birth_year(year, today, "input.birthYear")?);
    }
    if let Some(kind) = input.psks_type {
        active.psks_type = Set(kind);
    }
    if let Some(day) = input.served_since {
        active.served_since = Set(value::past_day(day, today, "input.servedSince")?);
    }
    if let Some(code) = &input.home_kelurahan_code {
        check_kelurahan(txn, code, "input.homeKelurahanCode").await?;
        active.home_kelurahan_code = Set(code.clone());
    }
    if let Some(code) = &input.kelurahan_code {
        check_kelurahan(txn, code, "input.kelurahanCode").await?;
        active.kelurahan_code = Set(code.clone());
    }
    active.version = Set(current.version + 1);
    active.updated_at = Set(write.now);
    let after = active.update(txn).await?;
    write.audit(AuditAction::Update, "Volunteer", current.id, None, Some(&current), Some(&after)).await?;
    Ok(current.id)
}

async fn deactivate_in(write: &Write, id: Uuid, version: i32, to: VolunteerStatus) -> AppResult<Uuid> {
    if to == VolunteerStatus::Active {
        return Err(AppError::bad_input("status", "deactivating sets INACTIVE or RETIRED"));
    }
    let current = locked_volunteer(write, id, version).await?;
    let allowed = matches!(
        (current.status, to),
        (VolunteerStatus::Active, _) | (VolunteerStatus::Inactive, VolunteerStatus::Retired)
    );
    if !allowed {
        return Err(AppError::Conflict(format!(
            "the volunteer is {}; it cannot become {}",
            current.status.as_str(),
            to.as_str()
        )));
    }
    let mut active = current.clone().into_active_model();
    active.status = Set(to);
    active.version = Set(current.version + 1);
    active.updated_at = Set(write.now);
    let after = active.update(&write.txn).await?;
    write.audit(AuditAction::Update, "Volunteer", current.id, None, Some(&current), Some(&after)).await?;
    Ok(current.id)
}

/// The volunteer `id` of an input field, which must exist.
async fn existing_volunteer(write: &Write, id: Uuid, field: &str) -> AppResult<Uuid> {
    let found = volunteer::Entity::find_by_id(id)
        .select_only()
        .column(volunteer::Column::Id)
        .into_tuple::<Uuid>()
        .one(&write.txn)
        .await?;
    found.ok_or_else(|| AppError::bad_input(field, "no such volunteer"))
}

async fn record_training_in(write: &Write, input: &RecordTrainingAttendance) -> AppResult<Uuid> {
    let txn = &write.txn;
    let course = name(&input.course, "input.course")?;
    let attended_on = value::past_day(input.attended_on, write.today(), "input.attendedOn")?;
    if !(1..=MAX_HOURS).contains(&input.hours) {
        return Err(AppError::bad_input("input.hours", format!("from 1 to {MAX_HOURS} hours")));
    }
    let volunteer_id = existing_volunteer(write, input.volunteer_id, "input.volunteerId").await?;
    let organiser = match input.organiser_id {
        Some(id) => {
            organisation::Entity::find_by_id(id)
                .one(txn)
                .await?
                .ok_or_else(|| AppError::bad_input("input.organiserId", "no such organisation"))?;
            Some(id)
        }
        None => None,
    };
    let row = training_attendance::ActiveModel {
        id: Set(entity::new_id()),
        volunteer_id: Set(volunteer_id),
        course: Set(course),
        organiser_id: Set(organiser),
        attended_on: Set(attended_on),
        hours: Set(input.hours),
        created_at: Set(write.now),
        updated_at: Set(write.now),
    };
    let recorded = training_attendance::Entity::insert(row).exec_with_returning(txn).await?;
    write.audit(AuditAction::Create, "TrainingAttendance", recorded.id, None, None, Some(&recorded)).await?;
    Ok(recorded.id)
}

async fn record_award_in(write: &Write, input: &RecordAward) -> AppResult<Uuid> {
    let title = name(&input.title, "input.title")?;
    let awarded_on = value::past_day(input.awarded_on, write.today(), "input.awardedOn")?;
    let awarded_by = name(&input.awarded_by, "input.awardedBy")?;
    let volunteer_id = existing_volunteer(write, input.volunteer_id, "input.volunteerId").await?;
    let row = award::ActiveModel {
        id: Set(entity::new_id()),
        volunteer_id: Set(volunteer_id),
        title: Set(title),
        awarded_on: Set(awarded_on),
        awarded_by: Set(awarded_by),
        created_at: Set(write.now),
        updated_at: Set(write.now),
    };
    let recorded = award::Entity::insert(row).exec_with_returning(&write.txn).await?;
    write.audit(AuditAction::Create, "Award", recorded.id, None, None, Some(&recorded)).await?;
    Ok(recorded.id)
}

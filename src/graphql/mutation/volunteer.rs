//! Volunteer mutations (STAFF only): register a PSM volunteer, update their record, record the
//! trainings (Bimtek) they attended and the awards they received, and deactivate or retire them.
//! Volunteers keep their own profile read-only: Dinsos keeps the register.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{Datelike, NaiveDate};
use entity::enums::{AuditAction, PsksType as DbPsksType, Role, VolunteerStatus as DbStatus};
use entity::{award, organisation, training_attendance, volunteer};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect};
use serde::Serialize;
use uuid::Uuid;

use super::case::check_kelurahan;
use super::{Write, check_version};
use crate::error::{AppError, AppResult};
use crate::graphql::ids::{self, NodeType};
use crate::graphql::types::enums::{PsksType, Sex, VolunteerStatus};
use crate::graphql::types::volunteer::{Award, TrainingAttendance, Volunteer};
use crate::graphql::types::{city_today, db};
use crate::policy::{self, require};

/// Longest name, course or award title accepted.
const MAX_NAME: usize = 200;

/// Most hours one training attendance may record.
const MAX_HOURS: i32 = 500;

/// A volunteer to register. They start ACTIVE.
#[derive(InputObject, Serialize)]
pub struct RegisterVolunteerInput {
    /// Full name (personal data).
    pub full_name: String,
    /// Mobile phone number (personal data): digits, spaces, `+` and `-`.
    pub phone: Option<String>,
    /// Gender.
    #[serde(serialize_with = "super::serialize_debug")]
    pub gender: Sex,
    /// Year of birth, from 1900 to this year.
    pub birth_year: i32,
    /// Which PSKS kind the worker is; default COMMUNITY_SOCIAL_WORKER (a PSM).
    #[serde(serialize_with = "super::serialize_debug")]
    pub psks_type: Option<PsksType>,
    /// The day the volunteer started serving; not in the future. Tenure is derived from it.
    pub served_since: NaiveDate,
    /// The kelurahan the volunteer lives in (code like `63.71.01.1001`).
    pub home_kelurahan_code: String,
    /// The kelurahan the volunteer covers (code like `63.71.01.1001`).
    pub kelurahan_code: String,
}

/// Changes to a volunteer's record; fields left out stay as they are. The status changes with
/// `deactivateVolunteer`.
#[derive(InputObject)]
pub struct UpdateVolunteerInput {
    /// New full name (personal data).
    pub full_name: Option<String>,
    /// New mobile phone number (personal data); an empty string removes it.
    pub phone: Option<String>,
    /// New gender.
    pub gender: Option<Sex>,
    /// New year of birth.
    pub birth_year: Option<i32>,
    /// New PSKS kind.
    pub psks_type: Option<PsksType>,
    /// New first day of service.
    pub served_since: Option<NaiveDate>,
    /// New home kelurahan code.
    pub home_kelurahan_code: Option<String>,
    /// New covered kelurahan code.
    pub kelurahan_code: Option<String>,
}

/// A training (Bimtek, bimbingan teknis) a volunteer attended.
#[derive(InputObject, Serialize)]
pub struct RecordTrainingAttendanceInput {
    /// The volunteer who attended.
    #[serde(serialize_with = "super::serialize_id")]
    pub volunteer_id: ID,
    /// The course, e.g. "Bimtek PSM 2025".
    pub course: String,
    /// The organisation that ran the training, when known.
    #[serde(serialize_with = "super::serialize_opt_id")]
    pub organiser_id: Option<ID>,
    /// The day attended; not in the future.
    pub attended_on: NaiveDate,
    /// Training hours, from 1 to 500.
    pub hours: i32,
}

/// An award given to a volunteer.
#[derive(InputObject, Serialize)]
pub struct RecordAwardInput {
    /// The volunteer who received it.
    #[serde(serialize_with = "super::serialize_id")]
    pub volunteer_id: ID,
    /// Title of the award.
    pub title: String,
    /// The day it was given; not in the future.
    pub awarded_on: NaiveDate,
    /// Who gave it, e.g. "Wali Kota Banjarmasin".
    pub awarded_by: String,
}

/// The volunteer a mutation changed.
#[derive(SimpleObject)]
pub struct VolunteerPayload {
    /// The volunteer as it is after the change.
    pub volunteer: Volunteer,
}

/// The training attendance a mutation recorded.
#[derive(SimpleObject)]
pub struct TrainingAttendancePayload {
    /// The attendance as recorded.
    pub training_attendance: TrainingAttendance,
}

/// The award a mutation recorded.
#[derive(SimpleObject)]
pub struct AwardPayload {
    /// The award as recorded.
    pub award: Award,
}

#[derive(Default)]
pub struct VolunteerMutation;

#[Object]
impl VolunteerMutation {
    /// Registers a PSM volunteer (STAFF). They start ACTIVE, at version 1.
    async fn register_volunteer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The volunteer.")] input: RegisterVolunteerInput,
        #[graphql(desc = "Makes retries safe: the same key and input return the first result.")]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<VolunteerPayload> {
        require(ctx, &[Role::Staff], "register volunteers")?;
        let today = city_today(ctx)?;
        let id = run_write!(ctx, "registerVolunteer", idempotency_key.as_deref(), &input, |write| register(
            &write, &input, today
        )
        .await);
        payload(ctx, id).await
    }

    /// Updates a volunteer's record (STAFF).
    async fn update_volunteer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The volunteer.")] id: ID,
        #[graphql(desc = "The `version` you last read; if it changed since, nothing happens and you get CONFLICT.")]
        version: i32,
        #[graphql(desc = "What to change.")] input: UpdateVolunteerInput,
    ) -> async_graphql::Result<VolunteerPayload> {
        require(ctx, &[Role::Staff], "update volunteers")?;
        let today = city_today(ctx)?;
        let id =
            run_write!(ctx, "updateVolunteer", None, &(), |write| update(&write, &id, version, &input, today).await);
        payload(ctx, id).await
    }

    /// Records a training (Bimtek) a volunteer attended (STAFF).
    async fn record_training_attendance(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The attendance.")] input: RecordTrainingAttendanceInput,
        #[graphql(desc = "Makes retries safe: the same key and input return the first result.")]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<TrainingAttendancePayload> {
        require(ctx, &[Role::Staff], "record training attendance")?;
        let today = city_today(ctx)?;
        let id =
            run_write!(ctx, "recordTrainingAttendance", idempotency_key.as_deref(), &input, |write| record_training(
                &write, &input, today
            )
            .await);
        let scope = policy::scope::<training_attendance::Entity>(policy::viewer(ctx)?);
        let row =
            training_attendance::Entity::find_by_id(id).filter(scope).one(db(ctx)?).await.map_err(AppError::from)?;
        let row = row.ok_or_else(|| AppError::NotFound("no such training attendance".into()))?;
        Ok(TrainingAttendancePayload { training_attendance: TrainingAttendance(row) })
    }

    /// Records an award given to a volunteer (STAFF).
    async fn record_award(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The award.")] input: RecordAwardInput,
        #[graphql(desc = "Makes retries safe: the same key and input return the first result.")]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<AwardPayload> {
        require(ctx, &[Role::Staff], "record awards")?;
        let today = city_today(ctx)?;
        let id = run_write!(ctx, "recordAward", idempotency_key.as_deref(), &input, |write| record_award(
            &write, &input, today
        )
        .await);
        let scope = policy::scope::<award::Entity>(policy::viewer(ctx)?);
        let row = award::Entity::find_by_id(id).filter(scope).one(db(ctx)?).await.map_err(AppError::from)?;
        Ok(AwardPayload { award: Award(row.ok_or_else(|| AppError::NotFound("no such award".into()))?) })
    }

    /// Stops a volunteer's service (STAFF): INACTIVE for a pause, RETIRED for good. An ACTIVE volunteer
    /// may become either, an INACTIVE one RETIRED; anything else is CONFLICT. Their cases stay theirs.
    async fn deactivate_volunteer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The volunteer.")] id: ID,
        #[graphql(desc = "The `version` you last read; if it changed since, nothing happens and you get CONFLICT.")]
        version: i32,
        #[graphql(desc = "INACTIVE (when left out) or RETIRED.")] status: Option<VolunteerStatus>,
    ) -> async_graphql::Result<VolunteerPayload> {
        require(ctx, &[Role::Staff], "deactivate volunteers")?;
        let id = run_write!(ctx, "deactivateVolunteer", None, &(), |write| deactivate(
            &write,
            &id,
            version,
            status.map_or(DbStatus::Inactive, Into::into)
        )
        .await);
        payload(ctx, id).await
    }
}

/// The volunteer after a write, read fresh within the caller's scope.
async fn payload(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<VolunteerPayload> {
    let scope = policy::scope::<volunteer::Entity>(policy::viewer(ctx)?);
    let row = volunteer::Entity::find_by_id(id).filter(scope).one(db(ctx)?).await.map_err(AppError::from)?;
    Ok(VolunteerPayload { volunteer: Volunteer(row.ok_or_else(|| AppError::NotFound("no such volunteer".into()))?) })
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

/// A phone number, or `None` for an empty one.
fn phone(value: Option<&str>, field: &str) -> AppResult<Option<String>> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    if value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit() || b == b'+' || b == b' ' || b == b'-') {
        return Err(AppError::bad_input(field, "a phone number has at most 20 digits, spaces, `+` and `-`"));
    }
    Ok(Some(value.to_owned()))
}

fn birth_year(year: i32, today: NaiveDate, field: &str) -> AppResult<i32> {
    if (1900..=today.year()).contains(&year) {
        Ok(year)
    } else {
        Err(AppError::bad_input(field, format!("a year from 1900 to {}", today.year())))
    }
}

/// A day that is not in the future (in the city's time zone).
fn past_day(day: NaiveDate, today: NaiveDate, field: &str) -> AppResult<NaiveDate> {
    if day > today { Err(AppError::bad_input(field, "must not be in the future")) } else { Ok(day) }
}

async fn register(write: &Write, input: &RegisterVolunteerInput, today: NaiveDate) -> AppResult<Uuid> {
    let txn = &write.txn;
    let row = volunteer::ActiveModel {
        id: Set(entity::new_id()),
        full_name: Set(text(&input.full_name, "input.fullName", MAX_NAME)?),
        phone: Set(phone(input.phone.as_deref(), "input.phone")?),
        gender: Set(input.gender.into()),
        birth_year: Set(birth_year(input.birth_year, today, "input.birthYear")?),
        psks_type: Set(input.psks_type.map_or(DbPsksType::CommunitySocialWorker, Into::into)),
        status: Set(DbStatus::Active),
        served_since: Set(past_day(input.served_since, today, "input.servedSince")?),
        home_kelurahan_code: Set(input.home_kelurahan_code.clone()),
        kelurahan_code: Set(input.kelurahan_code.clone()),
        version: Set(1),
        created_at: Set(write.now),
        updated_at: Set(write.now),
    };
    check_kelurahan(txn, &input.home_kelurahan_code, "input.homeKelurahanCode").await?;
    check_kelurahan(txn, &input.kelurahan_code, "input.kelurahanCode").await?;
    let registered = volunteer::Entity::insert(row).exec_with_returning(txn).await?;
    write.audit(AuditAction::Create, "Volunteer", registered.id, None, None, Some(&registered)).await?;
    Ok(registered.id)
}

/// The volunteer `id`, locked for the rest of the transaction, at `version`.
async fn locked_volunteer(write: &Write, id: &ID, version: i32) -> AppResult<volunteer::Model> {
    let id = ids::decode_uuid(id, NodeType::Volunteer, "id")?;
    let current = write.locked::<volunteer::Entity>(id, "volunteer").await?;
    check_version("volunteer", current.version, version)?;
    Ok(current)
}

async fn update(
    write: &Write,
    id: &ID,
    version: i32,
    input: &UpdateVolunteerInput,
    today: NaiveDate,
) -> AppResult<Uuid> {
    let txn = &write.txn;
    let current = locked_volunteer(write, id, version).await?;
    let mut active = current.clone().into_active_model();
    if let Some(name) = &input.full_name {
        active.full_name = Set(text(name, "input.fullName", MAX_NAME)?);
    }
    if let Some(number) = &input.phone {
        active.phone = Set(phone(Some(number), "input.phone")?);
    }
    if let Some(gender) = input.gender {
        active.gender = Set(gender.into());
    }
    if let Some(year) = input.birth_year {
        active.birth_year = Set(birth_year(year, today, "input.birthYear")?);
    }
    if let Some(kind) = input.psks_type {
        active.psks_type = Set(kind.into());
    }
    if let Some(day) = input.served_since {
        active.served_since = Set(past_day(day, today, "input.servedSince")?);
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

async fn deactivate(write: &Write, id: &ID, version: i32, to: DbStatus) -> AppResult<Uuid> {
    if to == DbStatus::Active {
        return Err(AppError::bad_input("status", "deactivating sets INACTIVE or RETIRED"));
    }
    let current = locked_volunteer(write, id, version).await?;
    let allowed = matches!((current.status, to), (DbStatus::Active, _) | (DbStatus::Inactive, DbStatus::Retired));
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
async fn existing_volunteer(write: &Write, id: &ID, field: &str) -> AppResult<Uuid> {
    let id = ids::decode_uuid(id, NodeType::Volunteer, field)?;
    let found = volunteer::Entity::find_by_id(id)
        .select_only()
        .column(volunteer::Column::Id)
        .into_tuple::<Uuid>()
        .one(&write.txn)
        .await?;
    found.ok_or_else(|| AppError::bad_input(field, "no such volunteer"))
}

async fn record_training(write: &Write, input: &RecordTrainingAttendanceInput, today: NaiveDate) -> AppResult<Uuid> {
    let txn = &write.txn;
    let volunteer_id = existing_volunteer(write, &input.volunteer_id, "input.volunteerId").await?;
    let course = text(&input.course, "input.course", MAX_NAME)?;
    let attended_on = past_day(input.attended_on, today, "input.attendedOn")?;
    if !(1..=MAX_HOURS).contains(&input.hours) {
        return Err(AppError::bad_input("input.hours", format!("from 1 to {MAX_HOURS} hours")));
    }
    let organiser = match &input.organiser_id {
        Some(id) => {
            let id = ids::decode_uuid(id, NodeType::Organisation, "input.organiserId")?;
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

async fn record_award(write: &Write, input: &RecordAwardInput, today: NaiveDate) -> AppResult<Uuid> {
    let volunteer_id = existing_volunteer(write, &input.volunteer_id, "input.volunteerId").await?;
    let row = award::ActiveModel {
        id: Set(entity::new_id()),
        volunteer_id: Set(volunteer_id),
        title: Set(text(&input.title, "input.title", MAX_NAME)?),
        awarded_on: Set(past_day(input.awarded_on, today, "input.awardedOn")?),
        awarded_by: Set(text(&input.awarded_by, "input.awardedBy", MAX_NAME)?),
        created_at: Set(write.now),
        updated_at: Set(write.now),
    };
    let recorded = award::Entity::insert(row).exec_with_returning(&write.txn).await?;
    write.audit(AuditAction::Create, "Award", recorded.id, None, None, Some(&recorded)).await?;
    Ok(recorded.id)
}

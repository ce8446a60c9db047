//! Volunteer mutations: decode the arguments into the commands of [`service::volunteer`] and return
//! the changed volunteer, training attendance or award. The rules live in the service.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::NaiveDate;
use entity::enums::VolunteerStatus as DbStatus;
use entity::{award, training_attendance, volunteer};

use super::case::decode_opt;
use super::{actor, prepare, reload};
use crate::graphql::ids::{self, NodeType};
use crate::graphql::types::enums::{PsksType, Sex, VolunteerStatus};
use crate::graphql::types::volunteer::{Award, TrainingAttendance, Volunteer};
use crate::service::access::Command;
use crate::service::volunteer::{
    self as service, RecordAward, RecordTrainingAttendance, RegisterVolunteer, UpdateVolunteer,
};
use crate::service::write::Operation;

/// A volunteer to register. They start ACTIVE.
#[derive(InputObject)]
pub struct RegisterVolunteerInput {
    /// Full name (personal data).
    pub full_name: String,
    /// Mobile phone number (personal data): digits, spaces, `+` and `-`.
    pub phone: Option<String>,
    /// Gender.
    pub gender: Sex,
    /// Year of birth, from 1900 to this year.
    pub birth_year: i32,
    /// Which PSKS kind the worker is; default COMMUNITY_SOCIAL_WORKER (a PSM).
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
#[derive(InputObject)]
pub struct RecordTrainingAttendanceInput {
    /// The volunteer who attended.
    pub volunteer_id: ID,
    /// The course, e.g. "Bimtek PSM 2025".
    pub course: String,
    /// The organisation that ran the training, when known.
    pub organiser_id: Option<ID>,
    /// The day attended; not in the future.
    pub attended_on: NaiveDate,
    /// Training hours, from 1 to 500.
    pub hours: i32,
}

/// An award given to a volunteer.
#[derive(InputObject)]
pub struct RecordAwardInput {
    /// The volunteer who received it.
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
        let actor = actor(ctx)?;
        let command = RegisterVolunteer {
            full_name: input.full_name,
            phone: input.phone,
            gender: input.gender.into(),
            birth_year: input.birth_year,
            psks_type: input.psks_type.map(Into::into),
            served_since: input.served_since,
            home_kelurahan_code: input.home_kelurahan_code,
            kelurahan_code: input.kelurahan_code,
        };
        let id = service::register(&actor, idempotency_key.as_deref(), &command).await?;
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
        let actor = actor(ctx)?;
        let command = UpdateVolunteer {
            full_name: input.full_name,
            phone: input.phone,
            gender: input.gender.map(Into::into),
            birth_year: input.birth_year,
            psks_type: input.psks_type.map(Into::into),
            served_since: input.served_since,
            home_kelurahan_code: input.home_kelurahan_code,
            kelurahan_code: input.kelurahan_code,
        };
        let operation = Operation::new(
            Command::UpdateVolunteer,
            &[("input.fullName", command.full_name.is_some()), ("input.phone", command.phone.is_some())],
        );
        let id = prepare(&actor, &operation, || ids::decode_uuid(&id, NodeType::Volunteer, "id")).await?;
        let id = service::update(&actor, id, version, &command).await?;
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
        let actor = actor(ctx)?;
        let command = prepare(&actor, &Operation::new(Command::RecordTrainingAttendance, &[]), || {
            Ok(RecordTrainingAttendance {
                volunteer_id: ids::decode_uuid(&input.volunteer_id, NodeType::Volunteer, "input.volunteerId")?,
                course: input.course.clone(),
                organiser_id: decode_opt(&input.organiser_id, NodeType::Organisation, "input.organiserId")?,
                attended_on: input.attended_on,
                hours: input.hours,
            })
        })
        .await?;
        let id = service::record_training(&actor, idempotency_key.as_deref(), &command).await?;
        let row = reload::<training_attendance::Entity>(ctx, id, "training attendance").await?;
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
        let actor = actor(ctx)?;
        let command = prepare(&actor, &Operation::new(Command::RecordAward, &[]), || {
            Ok(RecordAward {
                volunteer_id: ids::decode_uuid(&input.volunteer_id, NodeType::Volunteer, "input.volunteerId")?,
                title: input.title.clone(),
                awarded_on: input.awarded_on,
                awarded_by: input.awarded_by.clone(),
            })
        })
        .await?;
        let id = service::record_award(&actor, idempotency_key.as_deref(), &command).await?;
        Ok(AwardPayload { award: Award(reload::<award::Entity>(ctx, id, "award").await?) })
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
        let actor = actor(ctx)?;
        let operation = Operation::new(Command::DeactivateVolunteer, &[]);
        let id = prepare(&actor, &operation, || ids::decode_uuid(&id, NodeType::Volunteer, "id")).await?;
        let id = service::deactivate(&actor, id, version, status.map_or(DbStatus::Inactive, Into::into)).await?;
        payload(ctx, id).await
    }
}

/// The volunteer after a write, read fresh within the caller's scope.
async fn payload(ctx: &Context<'_>, id: uuid::Uuid) -> async_graphql::Result<VolunteerPayload> {
    Ok(VolunteerPayload { volunteer: Volunteer(reload::<volunteer::Entity>(ctx, id, "volunteer").await?) })
}

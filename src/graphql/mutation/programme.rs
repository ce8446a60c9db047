//! Programme and enrollment mutations: decode the arguments into the commands of
//! [`service::programme`] and return the changed programme or enrollment. The rules live in the service.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{enrollment, programme};

use super::{actor, prepare, reload};
use crate::graphql::ids::{self, NodeType};
use crate::graphql::types::enums::{EnrollmentStatus, PpksCategory, ProgrammeKind};
use crate::graphql::types::programme::{Enrollment, Programme};
use crate::service::access::Command;
use crate::service::programme::{self as service, CreateProgramme, EnrolCase, RecordExit, UpdateProgramme};
use crate::service::write::Operation;

/// A programme to create.
#[derive(InputObject)]
pub struct CreateProgrammeInput {
    /// Short unique code, e.g. `RTLH-2026`. A code already in use is CONFLICT.
    pub code: String,
    /// Name.
    pub name: String,
    /// What the programme does.
    pub kind: ProgrammeKind,
    /// What the programme offers and to whom.
    pub description: String,
    /// The organisation that owns and runs the programme.
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
#[derive(InputObject)]
pub struct EnrolCaseInput {
    /// The programme.
    pub programme_id: ID,
    /// The case; it must carry one of the programme's eligible categories, if the programme lists any.
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
        let actor = actor(ctx)?;
        let command = prepare(&actor, &Operation::new(Command::CreateProgramme, &[]), || {
            Ok(CreateProgramme {
                code: input.code.clone(),
                name: input.name.clone(),
                kind: input.kind.into(),
                description: input.description.clone(),
                owner_organisation_id: ids::decode_uuid(
                    &input.owner_organisation_id,
                    NodeType::Organisation,
                    "input.ownerOrganisationId",
                )?,
                starts_on: input.starts_on,
                ends_on: input.ends_on,
                target: input.target,
                budget_idr: input.budget_idr,
                eligible_categories: input.eligible_categories.iter().flatten().map(|c| (*c).into()).collect(),
            })
        })
        .await?;
        let id = service::create(&actor, idempotency_key.as_deref(), &command).await?;
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
        let actor = actor(ctx)?;
        let (id, command) = prepare(&actor, &Operation::new(Command::UpdateProgramme, &[]), || {
            let owner = input
                .owner_organisation_id
                .as_ref()
                .map(|id| ids::decode_uuid(id, NodeType::Organisation, "input.ownerOrganisationId"))
                .transpose()?;
            let command = UpdateProgramme {
                name: input.name.clone(),
                kind: input.kind.map(Into::into),
                description: input.description.clone(),
                owner_organisation_id: owner,
                starts_on: input.starts_on,
                ends_on: match &input.ends_on {
                    MaybeUndefined::Undefined => None,
                    MaybeUndefined::Null => Some(None),
                    MaybeUndefined::Value(day) => Some(Some(*day)),
                },
                target: input.target,
                budget_idr: input.budget_idr,
                eligible_categories: input
                    .eligible_categories
                    .as_ref()
                    .map(|categories| categories.iter().map(|c| (*c).into()).collect()),
            };
            Ok((ids::decode_uuid(&id, NodeType::Programme, "id")?, command))
        })
        .await?;
        let id = service::update(&actor, id, version, &command).await?;
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
        let actor = actor(ctx)?;
        let command = prepare(&actor, &Operation::new(Command::EnrolCase, &[]), || {
            Ok(EnrolCase {
                programme_id: ids::decode_uuid(&input.programme_id, NodeType::Programme, "input.programmeId")?,
                case_id: ids::decode_uuid(&input.case_id, NodeType::Case, "input.caseId")?,
                enrolled_at: input.enrolled_at,
            })
        })
        .await?;
        let id = service::enrol(&actor, idempotency_key.as_deref(), &command).await?;
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
        let actor = actor(ctx)?;
        let exit = RecordExit { status: status.into(), exited_at, reason };
        let operation = Operation::new(Command::RecordEnrollmentExit, &[("reason", exit.reason.is_some())]);
        let id = prepare(&actor, &operation, || ids::decode_uuid(&id, NodeType::Enrollment, "id")).await?;
        let id = service::record_exit(&actor, id, version, &exit).await?;
        enrollment_payload(ctx, id).await
    }
}

/// The programme after a write, read fresh within the caller's scope.
async fn payload(ctx: &Context<'_>, id: uuid::Uuid) -> async_graphql::Result<ProgrammePayload> {
    Ok(ProgrammePayload { programme: Programme(reload::<programme::Entity>(ctx, id, "programme").await?) })
}

/// The enrollment after a write, read fresh within the caller's scope.
async fn enrollment_payload(ctx: &Context<'_>, id: uuid::Uuid) -> async_graphql::Result<EnrollmentPayload> {
    Ok(EnrollmentPayload { enrollment: Enrollment(reload::<enrollment::Entity>(ctx, id, "enrollment").await?) })
}

//! Case mutations: decode the arguments into the case commands of [`service::case`] and return the
//! changed case. The rules (who reports, lifecycle, history, audit) live in the service.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::case;

use super::person::RegisterPersonInput;
use super::{actor, prepare, reload};
use crate::graphql::ids::{self, NodeType};
use crate::graphql::types::case::Case;
use crate::graphql::types::enums::{self as gql, CaseSource, ClosureReason, PpksCategory, Urgency};
use crate::service::case::{self as service, ChangeStatus, ReportCase, UpdateCase};

/// What `reportCase` needs. Give exactly one of `personId` and `newPerson`.
#[derive(InputObject)]
pub struct ReportCaseInput {
    /// The person the case is about, when already registered (STAFF).
    pub person_id: Option<ID>,
    /// The person the case is about, registered together with the case.
    pub new_person: Option<RegisterPersonInput>,
    /// The kelurahan where the case is (code like `63.71.01.1001`).
    pub kelurahan_code: String,
    /// One or more PPKS categories.
    pub categories: Vec<PpksCategory>,
    /// How quickly it needs attention.
    pub urgency: Urgency,
    /// How it came to attention.
    pub source: CaseSource,
    /// What the situation is (personal data).
    pub summary: String,
    /// When the case came to attention; default now. Not in the future.
    pub opened_at: Option<DateTime<Utc>>,
    /// STAFF only: the volunteer who found the case, if one did. A VOLUNTEER key always reports as itself.
    pub reporting_volunteer_id: Option<ID>,
}

/// Changes to a case; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateCaseInput {
    /// New urgency.
    pub urgency: Option<Urgency>,
    /// New summary (personal data).
    pub summary: Option<String>,
    /// New kelurahan code.
    pub kelurahan_code: Option<String>,
    /// Categories to add.
    pub add_categories: Option<Vec<PpksCategory>>,
    /// Categories to remove; a case keeps at least one.
    pub remove_categories: Option<Vec<PpksCategory>>,
}

/// The case a mutation changed.
#[derive(SimpleObject)]
pub struct CasePayload {
    /// The case as it is after the change.
    pub case: Case,
}

#[derive(Default)]
pub struct CaseMutation;

#[Object]
impl CaseMutation {
    /// Reports a new case (VOLUNTEER or STAFF). It starts as NEW, with its first history entry.
    async fn report_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] input: ReportCaseInput,
        #[graphql(desc = "Makes retries safe: the same key and input return the first result.")]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<CasePayload> {
        let actor = actor(ctx)?;
        let carried = ReportCase {
            person_id: None,
            new_person: input.new_person.as_ref().map(RegisterPersonInput::command),
            kelurahan_code: input.kelurahan_code.clone(),
            categories: input.categories.iter().map(|c| (*c).into()).collect(),
            urgency: input.urgency.into(),
            source: input.source.into(),
            summary: input.summary.clone(),
            opened_at: input.opened_at,
            reporting_volunteer_id: None,
        };
        let command = prepare(&actor, &carried.operation(), || {
            Ok(ReportCase {
                person_id: decode_opt(&input.person_id, NodeType::Person, "input.personId")?,
                reporting_volunteer_id: decode_opt(
                    &input.reporting_volunteer_id,
                    NodeType::Volunteer,
                    "input.reportingVolunteerId",
                )?,
                ..carried.clone()
            })
        })
        .await?;
        let id = service::report(&actor, idempotency_key.as_deref(), &command).await?;
        payload(ctx, id).await
    }

    /// Updates a case's urgency, summary, kelurahan or categories (STAFF, or the volunteer who reported it).
    async fn update_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] id: ID,
        #[graphql(desc = "The `version` you last read; if it changed since, nothing happens and you get CONFLICT.")]
        version: i32,
        #[graphql(desc = "What to change.")] input: UpdateCaseInput,
    ) -> async_graphql::Result<CasePayload> {
        let actor = actor(ctx)?;
        let command = UpdateCase {
            urgency: input.urgency.map(Into::into),
            summary: input.summary,
            kelurahan_code: input.kelurahan_code,
            add_categories: input.add_categories.iter().flatten().map(|c| (*c).into()).collect(),
            remove_categories: input.remove_categories.iter().flatten().map(|c| (*c).into()).collect(),
        };
        let id = prepare(&actor, &command.operation(), || ids::decode_uuid(&id, NodeType::Case, "id")).await?;
        let id = service::update(&actor, id, version, &command).await?;
        payload(ctx, id).await
    }

    /// Moves a case to another status (STAFF), as its lifecycle allows: NEW -> ASSESSMENT | CLOSED;
    /// ASSESSMENT -> IN_SERVICE | REFERRED | CLOSED; IN_SERVICE -> REFERRED | CLOSED; REFERRED ->
    /// IN_SERVICE | CLOSED; CLOSED -> REOPENED; REOPENED -> ASSESSMENT | CLOSED. Closing needs a
    /// `closureReason`. Anything else is CONFLICT, naming the current status.
    async fn change_case_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case.")] id: ID,
        #[graphql(desc = "The `version` you last read; if it changed since, nothing happens and you get CONFLICT.")]
        version: i32,
        #[graphql(desc = "The new status.")] status: gql::CaseStatus,
        #[graphql(desc = "Why the case is closed; required when `status` is CLOSED, refused otherwise.")]
        closure_reason: Option<ClosureReason>,
        #[graphql(desc = "A note for the case's history.")] note: Option<String>,
    ) -> async_graphql::Result<CasePayload> {
        let actor = actor(ctx)?;
        let command = ChangeStatus { to: status.into(), closure_reason: closure_reason.map(Into::into), note };
        let id = prepare(&actor, &command.operation(), || ids::decode_uuid(&id, NodeType::Case, "id")).await?;
        let id = service::change_status(&actor, id, version, &command).await?;
        payload(ctx, id).await
    }
}

/// An optional global id of `node_type`, decoded.
pub fn decode_opt(id: &Option<ID>, node_type: NodeType, field: &str) -> crate::error::AppResult<Option<uuid::Uuid>> {
    id.as_ref().map(|id| ids::decode_uuid(id, node_type, field)).transpose()
}

async fn payload(ctx: &Context<'_>, id: uuid::Uuid) -> async_graphql::Result<CasePayload> {
    Ok(CasePayload { case: Case::from(reload::<case::Entity>(ctx, id, "case").await?) })
}

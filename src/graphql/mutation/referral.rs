//! Referral mutations: decode the arguments into the commands of [`service::referral`] and return the
//! changed referral. The rules (lifecycle, consent, events, feeds, audit) live in the service.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::enums::ReferralStatus;
use entity::referral;

use super::{actor, prepare, reload};
use crate::graphql::ids::{self, NodeType};
use crate::graphql::types::enums::{OutcomeType, ReferralReason};
use crate::graphql::types::referral::Referral;
use crate::service::referral::{self as service, SendReferral, Transition};

/// What `sendReferral` needs.
#[derive(InputObject)]
pub struct SendReferralInput {
    /// The case to refer.
    pub case_id: ID,
    /// The partner organisation that should take it on.
    pub to_organisation_id: ID,
    /// The partner must answer by then, or the referral expires. Default: 14 days from now.
    pub respond_by: Option<DateTime<Utc>>,
    /// What the partner should know (no personal data beyond what the consent allows).
    pub note: Option<String>,
    /// Required when the person has no live consent to share with this partner: why the referral is
    /// sent anyway (for example an emergency). Recorded with the referral and in the audit trail. The
    /// partner then sees no personal data.
    pub consent_override_reason: Option<String>,
}

/// The referral a mutation changed.
#[derive(SimpleObject)]
pub struct ReferralPayload {
    /// The referral as it is after the change.
    pub referral: Referral,
}

#[derive(Default)]
pub struct ReferralMutation;

#[Object]
impl ReferralMutation {
    /// Sends a case to a partner organisation (STAFF). Needs a live consent of the person to share
    /// with that partner, or a `consentOverrideReason`. The case becomes REFERRED.
    async fn send_referral(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The referral to send.")] input: SendReferralInput,
        #[graphql(desc = "Makes retries safe: the same key and input return the first result.")]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<ReferralPayload> {
        let actor = actor(ctx)?;
        let carried = SendReferral {
            case_id: uuid::Uuid::nil(),
            to_organisation_id: uuid::Uuid::nil(),
            respond_by: input.respond_by,
            note: input.note.clone(),
            consent_override_reason: input.consent_override_reason.clone(),
        };
        let command = prepare(&actor, &carried.operation(), || {
            Ok(SendReferral {
                case_id: ids::decode_uuid(&input.case_id, NodeType::Case, "input.caseId")?,
                to_organisation_id: ids::decode_uuid(
                    &input.to_organisation_id,
                    NodeType::Organisation,
                    "input.toOrganisationId",
                )?,
                ..carried.clone()
            })
        })
        .await?;
        let id = service::send(&actor, idempotency_key.as_deref(), &command).await?;
        payload(ctx, id).await
    }

    /// Accepts a referral addressed to the caller's organisation (PARTNER, or STAFF on its behalf).
    async fn accept_referral(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The referral.")] id: ID,
        #[graphql(desc = "The `version` you last read; if it changed since, nothing happens and you get CONFLICT.")]
        version: i32,
        #[graphql(desc = "A note for Dinsos.")] note: Option<String>,
        #[graphql(desc = "Makes retries safe: the same key and input return the first result.")]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<ReferralPayload> {
        answer(
            ctx,
            &id,
            Change { version, to: ReferralStatus::Accepted, reason: None, note, outcome: None },
            idempotency_key,
        )
        .await
    }

    /// Declines a referral addressed to the caller's organisation, with a coded reason.
    async fn decline_referral(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The referral.")] id: ID,
        #[graphql(desc = "The `version` you last read; if it changed since, nothing happens and you get CONFLICT.")]
        version: i32,
        #[graphql(desc = "Why the referral is declined.")] reason: ReferralReason,
        #[graphql(desc = "More about the reason.")] note: Option<String>,
        #[graphql(desc = "Makes retries safe: the same key and input return the first result.")]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<ReferralPayload> {
        let change = Change { version, to: ReferralStatus::Declined, reason: Some(reason), note, outcome: None };
        answer(ctx, &id, change, idempotency_key).await
    }

    /// Completes an accepted referral and records what happened for the person (an outcome, unverified
    /// until Dinsos verifies it).
    async fn complete_referral(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The referral.")] id: ID,
        #[graphql(desc = "The `version` you last read; if it changed since, nothing happens and you get CONFLICT.")]
        version: i32,
        #[graphql(desc = "What actually happened for the person.")] outcome: OutcomeType,
        #[graphql(desc = "More about the outcome.")] note: Option<String>,
        #[graphql(desc = "Makes retries safe: the same key and input return the first result.")]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<ReferralPayload> {
        let change = Change { version, to: ReferralStatus::Completed, reason: None, note, outcome: Some(outcome) };
        answer(ctx, &id, change, idempotency_key).await
    }

    /// Withdraws a referral that is SENT or ACCEPTED (STAFF). The partner's feed tells it to delete
    /// what it holds.
    async fn withdraw_referral(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The referral.")] id: ID,
        #[graphql(desc = "The `version` you last read; if it changed since, nothing happens and you get CONFLICT.")]
        version: i32,
        #[graphql(desc = "Why it is withdrawn.")] reason: ReferralReason,
        #[graphql(desc = "More about the reason.")] note: Option<String>,
        #[graphql(desc = "Makes retries safe: the same key and input return the first result.")]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<ReferralPayload> {
        let change = Change { version, to: ReferralStatus::Withdrawn, reason: Some(reason), note, outcome: None };
        answer(ctx, &id, change, idempotency_key).await
    }
}

/// A transition as the client asked for it, before its id is decoded.
struct Change {
    version: i32,
    to: ReferralStatus,
    reason: Option<ReferralReason>,
    note: Option<String>,
    outcome: Option<OutcomeType>,
}

/// Runs a transition of an existing referral.
async fn answer(
    ctx: &Context<'_>,
    id: &ID,
    change: Change,
    idempotency_key: Option<String>,
) -> async_graphql::Result<ReferralPayload> {
    let actor = actor(ctx)?;
    let mut transition = Transition {
        id: uuid::Uuid::nil(),
        version: change.version,
        to: change.to,
        reason: change.reason.map(Into::into),
        note: change.note,
        outcome: change.outcome.map(Into::into),
    };
    transition.id =
        prepare(&actor, &transition.operation()?, || ids::decode_uuid(id, NodeType::Referral, "id")).await?;
    let id = service::transition(&actor, idempotency_key.as_deref(), &transition).await?;
    payload(ctx, id).await
}

/// The referral after a write, read fresh and within the caller's scope.
async fn payload(ctx: &Context<'_>, id: uuid::Uuid) -> async_graphql::Result<ReferralPayload> {
    Ok(ReferralPayload { referral: Referral::from(reload::<referral::Entity>(ctx, id, "referral").await?) })
}

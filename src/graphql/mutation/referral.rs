//! Referral mutations: STAFF send and withdraw; the receiving PARTNER (or STAFF) accepts, declines and
//! completes. Each transition is checked against the referral lifecycle, appended to the referral's
//! event log and to the partner's feed, and audited.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Duration, Utc};
use entity::enums::{AuditAction, CaseStatus, ChangeKind, OrganisationKind, ReferralStatus, Role};
use entity::{case, case_status_change, consent, organisation, outcome, referral, referral_event};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

use super::{Write, check_version};
use crate::error::{AppError, AppResult};
use crate::graphql::ids::{self, NodeType};
use crate::graphql::types::db;
use crate::graphql::types::enums::{OutcomeType, ReferralReason};
use crate::graphql::types::referral::Referral;
use crate::policy::{self, require};
use crate::service::{feed, workflow};

/// Days a partner has to answer a referral when `respondBy` is not given.
const DEFAULT_RESPONSE_DAYS: i64 = 14;

/// Longest note accepted on a transition.
const MAX_NOTE: usize = 2000;

/// What `sendReferral` needs.
#[derive(InputObject, Serialize)]
pub struct SendReferralInput {
    /// The case to refer.
    #[serde(serialize_with = "super::serialize_id")]
    pub case_id: ID,
    /// The partner organisation that should take it on.
    #[serde(serialize_with = "super::serialize_id")]
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
        require(ctx, &[Role::Staff], "send referrals")?;
        let id =
            run_write!(ctx, "sendReferral", idempotency_key.as_deref(), &input, |write| send(&write, &input).await);
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
        let change = Transition { id, version, to: ReferralStatus::Accepted, reason: None, note, outcome: None };
        answer(ctx, "acceptReferral", change, idempotency_key).await
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
        let change =
            Transition { id, version, to: ReferralStatus::Declined, reason: Some(reason), note, outcome: None };
        answer(ctx, "declineReferral", change, idempotency_key).await
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
        let change =
            Transition { id, version, to: ReferralStatus::Completed, reason: None, note, outcome: Some(outcome) };
        answer(ctx, "completeReferral", change, idempotency_key).await
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
        require(ctx, &[Role::Staff], "withdraw referrals")?;
        let change =
            Transition { id, version, to: ReferralStatus::Withdrawn, reason: Some(reason), note, outcome: None };
        answer(ctx, "withdrawReferral", change, idempotency_key).await
    }
}

/// The referral after a write, read fresh (not from a loader that may have cached it earlier in the
/// request) and within the caller's scope.
async fn payload(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<ReferralPayload> {
    let scope = policy::scope::<referral::Entity>(policy::viewer(ctx)?);
    let row = referral::Entity::find_by_id(id).filter(scope).one(db(ctx)?).await.map_err(AppError::from)?;
    let row = row.ok_or_else(|| AppError::NotFound("no such referral".into()))?;
    Ok(ReferralPayload { referral: Referral(row) })
}

fn note(note: Option<String>) -> AppResult<Option<String>> {
    match note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()) {
        Some(n) if n.chars().count() > MAX_NOTE => {
            Err(AppError::bad_input("note", format!("at most {MAX_NOTE} characters")))
        }
        other => Ok(other),
    }
}

async fn send(write: &Write, input: &SendReferralInput) -> AppResult<Uuid> {
    let txn = &write.txn;
    let case_id = ids::decode_uuid(&input.case_id, NodeType::Case, "input.caseId")?;
    let to = ids::decode_uuid(&input.to_organisation_id, NodeType::Organisation, "input.toOrganisationId")?;
    let respond_by = input.respond_by.unwrap_or(write.now + Duration::days(DEFAULT_RESPONSE_DAYS));
    if respond_by <= write.now {
        return Err(AppError::bad_input("input.respondBy", "the response deadline must be in the future"));
    }
    let note = note(input.note.clone())?;
    let override_reason = input.consent_override_reason.as_deref().map(str::trim).filter(|r| !r.is_empty());

    let case = case::Entity::find_by_id(case_id)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(|| AppError::bad_input("input.caseId", "no such case"))?;
    let partner = organisation::Entity::find_by_id(to)
        .one(txn)
        .await?
        .ok_or_else(|| AppError::bad_input("input.toOrganisationId", "no such organisation"))?;
    let sender = organisation::Entity::find()
        .filter(organisation::Column::Kind.eq(OrganisationKind::SocialService))
        .one(txn)
        .await?
        .ok_or_else(|| AppError::Internal("no Dinsos organisation on record to send referrals from".into()))?;
    if partner.id == sender.id {
        return Err(AppError::bad_input("input.toOrganisationId", "Dinsos cannot refer a case to itself"));
    }
    let consents = consent::Entity::find().filter(consent::Column::PersonId.eq(case.person_id)).all(txn).await?;
    let consented = feed::shares(&consents, partner.id, write.now);
    if !consented && override_reason.is_none() {
        return Err(AppError::bad_input(
            "input.consentOverrideReason",
            format!(
                "the person has no live consent to share their data with {}: record one, or give a consentOverrideReason",
                partner.code
            ),
        ));
    }
    if case.status != CaseStatus::Referred {
        workflow::check_case(case.status, CaseStatus::Referred)?;
        let before = case.clone();
        let mut active = case.clone().into_active_model();
        active.status = Set(CaseStatus::Referred);
        active.version = Set(case.version + 1);
        active.updated_at = Set(write.now);
        let after = active.update(txn).await?;
        case_status_change::Entity::insert(case_status_change::ActiveModel {
            id: Set(entity::new_id()),
            case_id: Set(case.id),
            from_status: Set(Some(case.status)),
            to_status: Set(CaseStatus::Referred),
            changed_at: Set(write.now),
            changed_by: Set(write.viewer.label.clone()),
            note: Set(Some(format!("referred to {}", partner.code))),
        })
        .exec_without_returning(txn)
        .await?;
        write.audit(AuditAction::Update, "Case", case.id, Some(case.person_id), Some(&before), Some(&after)).await?;
    }
    let event_note = match override_reason {
        Some(reason) if !consented => Some(format!("sent without consent to share: {reason}")),
        _ => note.clone(),
    };
    let row = referral::ActiveModel {
        id: Set(entity::new_id()),
        case_id: Set(case.id),
        from_organisation_id: Set(sender.id),
        to_organisation_id: Set(partner.id),
        status: Set(ReferralStatus::Sent),
        reason: Set(None),
        note: Set(note),
        sent_at: Set(write.now),
        respond_by: Set(respond_by),
        responded_at: Set(None),
        completed_at: Set(None),
        version: Set(1),
        consent_override_reason: Set(if consented { None } else { override_reason.map(str::to_owned) }),
        partner_holds: Set(true),
        created_at: Set(write.now),
        updated_at: Set(write.now),
    };
    let sent = referral::Entity::insert(row).exec_with_returning(txn).await?;
    event(write, sent.id, None, ReferralStatus::Sent, None, event_note).await?;
    write.audit(AuditAction::Create, "Referral", sent.id, Some(case.person_id), None, Some(&sent)).await?;
    feed::append(txn, partner.id, sent.id, ChangeKind::Upsert, "SENT", write.now).await?;
    Ok(sent.id)
}

/// A requested referral transition.
#[derive(Serialize)]
struct Transition {
    #[serde(serialize_with = "super::serialize_id")]
    id: ID,
    version: i32,
    #[serde(serialize_with = "super::serialize_debug")]
    to: ReferralStatus,
    #[serde(serialize_with = "super::serialize_debug")]
    reason: Option<ReferralReason>,
    note: Option<String>,
    #[serde(serialize_with = "super::serialize_debug")]
    outcome: Option<OutcomeType>,
}

/// Runs a transition of an existing referral, as an idempotent write.
async fn answer(
    ctx: &Context<'_>,
    operation: &'static str,
    change: Transition,
    idempotency_key: Option<String>,
) -> async_graphql::Result<ReferralPayload> {
    require(ctx, &[Role::Staff, Role::Partner], "answer referrals")?;
    let id = run_write!(ctx, operation, idempotency_key.as_deref(), &change, |write| transition(&write, &change).await);
    payload(ctx, id).await
}

async fn transition(write: &Write, change: &Transition) -> AppResult<Uuid> {
    let txn = &write.txn;
    let id = ids::decode_uuid(&change.id, NodeType::Referral, "id")?;
    let note = note(change.note.clone())?;
    // A referral outside the caller's scope (another partner's) does not exist for it.
    let current = write.locked::<referral::Entity>(id, "referral").await?;
    check_version("referral", current.version, change.version)?;
    workflow::check_referral(current.status, change.to)?;
    let case = case::Entity::find_by_id(current.case_id)
        .one(txn)
        .await?
        .ok_or_else(|| AppError::Internal("referral without its case".into()))?;

    let mut active = current.clone().into_active_model();
    active.status = Set(change.to);
    active.version = Set(current.version + 1);
    active.updated_at = Set(write.now);
    match change.to {
        ReferralStatus::Accepted | ReferralStatus::Declined => active.responded_at = Set(Some(write.now)),
        ReferralStatus::Completed => active.completed_at = Set(Some(write.now)),
        _ => {}
    }
    if let Some(reason) = change.reason {
        active.reason = Set(Some(reason.into()));
    }
    let after = active.update(txn).await?;
    let reason = change.reason.map(Into::into);
    event(write, id, Some(current.status), change.to, reason, note.clone()).await?;
    write.audit(AuditAction::Update, "Referral", id, Some(case.person_id), Some(&current), Some(&after)).await?;

    if let Some(outcome_type) = change.outcome {
        let outcome_type: entity::enums::OutcomeType = outcome_type.into();
        let row = outcome::ActiveModel {
            id: Set(entity::new_id()),
            case_id: Set(case.id),
            referral_id: Set(Some(id)),
            programme_id: Set(None),
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
    }

    let kind = if change.to == ReferralStatus::Withdrawn { ChangeKind::Tombstone } else { ChangeKind::Upsert };
    // A referral already tombstoned for lack of consent stays tombstoned until consent returns.
    if kind == ChangeKind::Tombstone || feed::latest_kind(txn, id).await? != Some(ChangeKind::Tombstone) {
        feed::append(txn, current.to_organisation_id, id, kind, change.to.as_str(), write.now).await?;
    }
    Ok(id)
}

async fn event(
    write: &Write,
    referral: Uuid,
    from: Option<ReferralStatus>,
    to: ReferralStatus,
    reason: Option<entity::enums::ReferralReason>,
    note: Option<String>,
) -> AppResult<()> {
    referral_event::Entity::insert(referral_event::ActiveModel {
        id: Set(entity::new_id()),
        referral_id: Set(referral),
        from_status: Set(from),
        to_status: Set(to),
        reason: Set(reason),
        actor: Set(write.viewer.label.clone()),
        occurred_at: Set(write.now),
        note: Set(note),
    })
    .exec_without_returning(&write.txn)
    .await?;
    Ok(())
}

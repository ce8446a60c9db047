//! Referral commands: STAFF send and withdraw; the receiving PARTNER (or STAFF) accepts, declines and
//! completes; the server expires referrals nobody answered in time ([`expire`], run by the sweeps). Each
//! transition is checked against the referral lifecycle, appended to the referral's event log and to
//! the partner's feed, and audited. Reading referrals and feeds is not here.

use chrono::{DateTime, Duration, Utc};
use entity::enums::{
    AuditAction, CaseStatus, ChangeKind, OrganisationKind, OutcomeType, ReferralReason, ReferralStatus,
};
use entity::{case, consent, organisation, outcome, referral, referral_event};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

use super::access::Command;
use super::value::{self, Lines, MAX_NOTE};
use super::write::{Actor, Operation, Write, check_version, debug, run};
use super::{case as cases, feed, workflow};
use crate::error::{AppError, AppResult};
use crate::service::perturbation;

/// Days a partner has to answer a referral when no deadline is given.
const DEFAULT_RESPONSE_DAYS: i64 = 14;

/// The note a referral leaves in its case's history. It names no partner: the history is read by
/// whoever may read the case, and which partner took a case on is itself sensitive.
pub const REFERRED_NOTE: &str = "referred to a partner organisation";

/// A referral to send.
#[derive(Debug, Clone, Serialize)]
pub struct SendReferral {
    pub case_id: Uuid,
    pub to_organisation_id: Uuid,
    /// The partner must answer by then; default 14 days from now.
    pub respond_by: Option<DateTime<Utc>>,
    /// What the partner should know.
    pub note: Option<String>,
    /// Why the referral is sent although the person has no live consent to share with this partner.
    pub consent_override_reason: Option<String>,
}

/// An answer to (or a withdrawal of) an existing referral.
#[derive(Debug, Clone, Serialize)]
pub struct Transition {
    pub id: Uuid,
    /// The version the caller last read.
    pub version: i32,
    #[serde(serialize_with = "debug")]
    pub to: ReferralStatus,
    /// Why (declining, withdrawing).
    #[serde(serialize_with = "debug")]
    pub reason: Option<ReferralReason>,
    pub note: Option<String>,
    /// What happened for the person (completing).
    #[serde(serialize_with = "debug")]
    pub outcome: Option<OutcomeType>,
}

impl Transition {
    /// The command this transition is.
    pub fn command(&self) -> AppResult<Command> {
        match self.to {
            ReferralStatus::Accepted => Ok(Command::AcceptReferral),
            ReferralStatus::Declined => Ok(Command::DeclineReferral),
            ReferralStatus::Completed => Ok(Command::CompleteReferral),
            ReferralStatus::Withdrawn => Ok(Command::WithdrawReferral),
            ReferralStatus::Expired => Ok(Command::ExpireReferral),
            ReferralStatus::Sent => Err(AppError::bad_input("status", "a referral is sent with sendReferral")),
        }
    }

    /// The operation, with the personal fields it carries.
    pub fn operation(&self) -> AppResult<Operation> {
        Ok(Operation::new(self.command()?, &[("note", self.note.is_some())]))
    }
}

impl SendReferral {
    /// The operation, with the personal fields it carries.
    pub fn operation(&self) -> Operation {
        Operation::new(
            Command::SendReferral,
            &[
                ("input.note", self.note.is_some()),
                ("input.consentOverrideReason", self.consent_override_reason.is_some()),
            ],
        )
    }
}

/// Sends a case to a partner organisation (STAFF). Needs a live consent of the person to share with that
/// partner, or a consent override reason. The case becomes REFERRED (through [`cases::move_status`]).
pub async fn send(actor: &Actor<'_>, idempotency_key: Option<&str>, input: &SendReferral) -> AppResult<Uuid> {
    run!(actor, &input.operation(), idempotency_key, input, |write| send_in(&write, input).await)
}

/// Runs a transition of an existing referral: accept, decline, complete (PARTNER or STAFF), withdraw
/// (STAFF).
pub async fn transition(actor: &Actor<'_>, idempotency_key: Option<&str>, change: &Transition) -> AppResult<Uuid> {
    let operation = change.operation()?;
    run!(actor, &operation, idempotency_key, change, |write| transition_in(&write, change, write.now).await)
}

/// Expires the referral `id` if it is still SENT and its deadline passed by `at` (the server: the
/// sweeps). Anything else is CONFLICT and changes nothing: another sweep got there first, or the partner
/// answered.
pub async fn expire(actor: &Actor<'_>, id: Uuid, at: DateTime<Utc>) -> AppResult<Uuid> {
    let change = Transition {
        id,
        version: 0,
        to: ReferralStatus::Expired,
        reason: Some(ReferralReason::NoResponse),
        note: None,
        outcome: None,
    };
    run!(actor, &Operation::new(Command::ExpireReferral, &[]), None, &(), |write| transition_in(&write, &change, at)
        .await)
}

fn note(note: Option<&str>, field: &str) -> AppResult<Option<String>> {
    value::optional_text(note, field, MAX_NOTE, Lines::Many)
}

async fn send_in(write: &Write, input: &SendReferral) -> AppResult<Uuid> {
    let txn = &write.txn;
    let respond_by = input.respond_by.unwrap_or(write.now + Duration::days(DEFAULT_RESPONSE_DAYS));
    let respond_by = value::instant(respond_by, "input.respondBy")?;
    if respond_by <= write.now {
        return Err(AppError::bad_input("input.respondBy", "the response deadline must be in the future"));
    }
    let note = note(input.note.as_deref(), "input.note")?;
    let override_reason = note_reason(input.consent_override_reason.as_deref())?;

    let case = case::Entity::find_by_id(input.case_id)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(|| AppError::bad_input("input.caseId", "no such case"))?;
    let partner = organisation::Entity::find_by_id(input.to_organisation_id)
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
        cases::move_status(write, &case, CaseStatus::Referred, None, Some(REFERRED_NOTE.to_owned())).await?;
    }
    let event_note = match &override_reason {
        // The reason is a judgement about the person, kept on the referral for STAFF; the event log
        // (which partners read under consent) says only that consent was overridden.
        Some(_) if !consented => Some("sent without consent to share (the reason is on the referral)".to_owned()),
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
        consent_override_reason: Set(if consented { None } else { override_reason }),
        partner_holds: Set(true),
        created_at: Set(write.now),
        updated_at: Set(write.now),
        record_key: Set(perturbation::record_key()?),
    };
    let sent = referral::Entity::insert(row).exec_with_returning(txn).await?;
    event(write, sent.id, None, ReferralStatus::Sent, None, event_note, write.now).await?;
    write.audit(AuditAction::Create, "Referral", sent.id, Some(case.person_id), None, Some(&sent)).await?;
    feed::append(txn, partner.id, sent.id, ChangeKind::Upsert, "SENT", write.now).await?;
    Ok(sent.id)
}

fn note_reason(reason: Option<&str>) -> AppResult<Option<String>> {
    note(reason, "input.consentOverrideReason")
}

/// Runs `change` in `write`; `at` is when it happens (now, or the instant a sweep runs for).
async fn transition_in(write: &Write, change: &Transition, at: DateTime<Utc>) -> AppResult<Uuid> {
    let txn = &write.txn;
    let id = change.id;
    let note = note(change.note.as_deref(), "note")?;
    let current = if change.to == ReferralStatus::Expired {
        // The server sees every referral; only one still SENT past its deadline expires.
        let current = referral::Entity::find_by_id(id)
            .lock_exclusive()
            .one(txn)
            .await?
            .ok_or_else(|| AppError::NotFound("no such referral".into()))?;
        if current.respond_by > at {
            return Err(AppError::Conflict("the referral's response deadline has not passed".into()));
        }
        current
    } else {
        // A referral outside the caller's scope (another partner's) does not exist for it.
        let current = write.locked::<referral::Entity>(id, "referral").await?;
        check_version("referral", current.version, change.version)?;
        current
    };
    workflow::check_referral(current.status, change.to)?;
    let case = case::Entity::find_by_id(current.case_id)
        .one(txn)
        .await?
        .ok_or_else(|| AppError::Internal("referral without its case".into()))?;

    let mut active = current.clone().into_active_model();
    active.status = Set(change.to);
    active.version = Set(current.version + 1);
    active.updated_at = Set(at);
    match change.to {
        ReferralStatus::Accepted | ReferralStatus::Declined => active.responded_at = Set(Some(at)),
        ReferralStatus::Completed => active.completed_at = Set(Some(at)),
        _ => {}
    }
    if let Some(reason) = change.reason {
        active.reason = Set(Some(reason));
    }
    let after = active.update(txn).await?;
    let event_note = match change.to {
        ReferralStatus::Expired => Some("no answer by the response deadline".to_owned()),
        _ => note.clone(),
    };
    event(write, id, Some(current.status), change.to, change.reason, event_note, at).await?;
    write.audit(AuditAction::Update, "Referral", id, Some(case.person_id), Some(&current), Some(&after)).await?;

    if let Some(outcome_type) = change.outcome {
        let row = outcome::ActiveModel {
            id: Set(entity::new_id()),
            case_id: Set(case.id),
            referral_id: Set(Some(id)),
            programme_id: Set(None),
            outcome_type: Set(outcome_type),
            outcome_group: Set(outcome_type.group()),
            recorded_by: Set(write.viewer.label.clone()),
            recorded_at: Set(at),
            verified: Set(false),
            verified_at: Set(None),
            note: Set(note),
            created_at: Set(at),
            updated_at: Set(at),
            record_key: Set(perturbation::record_key()?),
        };
        let recorded = outcome::Entity::insert(row).exec_with_returning(txn).await?;
        write.audit(AuditAction::Create, "Outcome", recorded.id, Some(case.person_id), None, Some(&recorded)).await?;
    }

    let kind = if change.to == ReferralStatus::Withdrawn { ChangeKind::Tombstone } else { ChangeKind::Upsert };
    // A referral already tombstoned for lack of consent stays tombstoned until consent returns.
    if kind == ChangeKind::Tombstone || feed::latest_kind(txn, id).await? != Some(ChangeKind::Tombstone) {
        feed::append(txn, current.to_organisation_id, id, kind, change.to.as_str(), at).await?;
    }
    Ok(id)
}

async fn event(
    write: &Write,
    referral: Uuid,
    from: Option<ReferralStatus>,
    to: ReferralStatus,
    reason: Option<ReferralReason>,
    note: Option<String>,
    at: DateTime<Utc>,
) -> AppResult<()> {
    referral_event::Entity::insert(referral_event::ActiveModel {
        id: Set(entity::new_id()),
        referral_id: Set(referral),
        from_status: Set(from),
        to_status: Set(to),
        reason: Set(reason),
        actor: Set(write.viewer.label.clone()),
        occurred_at: Set(at),
        note: Set(note),
    })
    .exec_without_returning(&write.txn)
    .await?;
    Ok(())
}

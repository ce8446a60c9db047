//! Person and consent commands: STAFF register persons (a VOLUNTEER registers one with a case, see
//! [`case::report`](super::case::report)); STAFF, or the volunteer whose case the person is in, record and
//! revoke consents. Revoking tells the partners concerned, through their feeds, to delete what they hold;
//! a new sharing consent brings their referrals back. Reading persons is not here.
//!
//! # A NIK is never confirmed to a non-STAFF caller
//! A NIK is unique among persons (a partial unique index on persons not flagged as possible duplicates).
//! Registering a NIK already on record is `CONFLICT` for STAFF, naming the existing person. Anyone else
//! would learn from that answer that the NIK belongs to a social case, so for them the person is
//! registered anyway, flagged `possible_duplicate_of` the existing one for STAFF to resolve: the answer
//! for a registered and an unregistered NIK is the same.

use chrono::{DateTime, NaiveDate, Utc};
use entity::enums::{AuditAction, ConsentGiver, ConsentScope, Role, Sex};
use entity::{consent, organisation, person};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

use super::access::Command;
use super::case::check_kelurahan;
use super::feed;
use super::value::{self, Lines, MAX_ADDRESS, MAX_NAME};
use super::write::{Actor, Operation, Write, debug, duplicate, run};
use crate::error::{AppError, AppResult};
use crate::service::scope;

/// A person to register.
#[derive(Debug, Clone, Serialize)]
pub struct NewPerson {
    pub full_name: String,
    /// The 16-digit NIK, when known.
    pub nik: Option<String>,
    pub birth_date: NaiveDate,
    #[serde(serialize_with = "debug")]
    pub sex: Sex,
    /// A description of a disability, when the person has one.
    pub disability: Option<String>,
    pub address: String,
    pub phone: Option<String>,
    /// The kelurahan the person lives in.
    pub kelurahan_code: String,
}

/// A consent to record.
#[derive(Debug, Clone, Serialize)]
pub struct RecordConsent {
    pub person_id: Uuid,
    #[serde(serialize_with = "debug")]
    pub scope: ConsentScope,
    /// The only partner it covers (SHARE_WITH_PARTNERS); `None` covers every partner.
    pub partner_organisation_id: Option<Uuid>,
    #[serde(serialize_with = "debug")]
    pub given_by: ConsentGiver,
    /// When it was given; default now.
    pub given_at: Option<DateTime<Utc>>,
    /// When it ends, if it does.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A person whose every value has been checked, ready to insert.
pub struct ValidPerson {
    full_name: String,
    nik: Option<String>,
    birth_date: NaiveDate,
    sex: Sex,
    disability: Option<String>,
    address: String,
    phone: Option<String>,
    kelurahan_code: String,
}

/// Checks every value of `input` without touching the database; `field` is where the input sits
/// (`input`, `input.newPerson`).
pub fn validate(input: &NewPerson, field: &str, today: NaiveDate) -> AppResult<ValidPerson> {
    let at = |name: &str| format!("{field}.{name}");
    let full_name = value::text(&input.full_name, &at("fullName"), MAX_NAME, Lines::One)?;
    let nik = value::nik(input.nik.as_deref(), &at("nik"))?;
    let birth_date = value::past_day(input.birth_date, today, &at("birthDate"))?;
    let disability = value::optional_text(input.disability.as_deref(), &at("disability"), MAX_ADDRESS, Lines::One)?;
    let address = value::text(&input.address, &at("address"), MAX_ADDRESS, Lines::One)?;
    let phone = value::phone(input.phone.as_deref(), &at("phone"))?;
    let kelurahan_code = value::code(&input.kelurahan_code, &at("kelurahanCode"))?;
    Ok(ValidPerson { full_name, nik, birth_date, sex: input.sex, disability, address, phone, kelurahan_code })
}

/// Registers a person (STAFF).
pub async fn register(actor: &Actor<'_>, idempotency_key: Option<&str>, input: &NewPerson) -> AppResult<Uuid> {
    let operation = Operation::new(Command::RegisterPerson, &[("input", true)]);
    run!(actor, &operation, idempotency_key, input, |write| async {
        let valid = validate(input, "input", write.today())?;
        insert(&write, valid, "input").await.map(|p| p.id)
    }
    .await)
}

/// Inserts a checked person, in the caller's write; see the module documentation for a NIK on record.
pub async fn insert(write: &Write, input: ValidPerson, field: &str) -> AppResult<person::Model> {
    let txn = &write.txn;
    check_kelurahan(txn, &input.kelurahan_code, &format!("{field}.kelurahanCode")).await?;
    let mut possible_duplicate_of = None;
    if let Some(nik) = &input.nik {
        let existing: Option<Uuid> = person::Entity::find()
            .select_only()
            .column(person::Column::Id)
            .filter(person::Column::Nik.eq(nik.as_str()))
            .filter(person::Column::PossibleDuplicateOf.is_null())
            .order_by_asc(person::Column::CreatedAt)
            .into_tuple()
            .one(txn)
            .await?;
        match existing {
            Some(existing) if write.viewer.role == Role::Staff => {
                return Err(AppError::Conflict(format!(
                    "a person with this NIK is already registered (person {existing}); find them with the `nik` filter"
                )));
            }
            other => possible_duplicate_of = other,
        }
    }
    let row = person::ActiveModel {
        id: Set(entity::new_id()),
        full_name: Set(input.full_name),
        nik: Set(input.nik),
        birth_date: Set(input.birth_date),
        sex: Set(input.sex),
        disability: Set(input.disability),
        address: Set(input.address),
        phone: Set(input.phone),
        kelurahan_code: Set(input.kelurahan_code),
        possible_duplicate_of: Set(possible_duplicate_of),
        created_at: Set(write.now),
        updated_at: Set(write.now),
    };
    let registered = person::Entity::insert(row)
        .exec_with_returning(txn)
        .await
        .map_err(|e| duplicate(e, "a person with this NIK is already registered"))?;
    write.audit(AuditAction::Create, "Person", registered.id, Some(registered.id), None, Some(&registered)).await?;
    Ok(registered)
}

/// Records a consent (STAFF, or the volunteer whose case the person is in). A sharing consent makes the
/// person's referrals to the partners it covers visible again in their feeds.
pub async fn record_consent(
    actor: &Actor<'_>,
    idempotency_key: Option<&str>,
    input: &RecordConsent,
) -> AppResult<Uuid> {
    let operation = Operation::new(Command::RecordConsent, &[]);
    run!(actor, &operation, idempotency_key, input, |write| record_in(&write, input).await)
}

/// Revokes a consent at once (STAFF, or the volunteer whose case the person is in). Partners that no
/// other live consent covers get a tombstone in their feeds for each of the person's referrals.
pub async fn revoke_consent(actor: &Actor<'_>, id: Uuid) -> AppResult<Uuid> {
    let operation = Operation::new(Command::RevokeConsent, &[]);
    run!(actor, &operation, None, &(), |write| revoke_in(&write, id).await)
}

async fn record_in(write: &Write, input: &RecordConsent) -> AppResult<Uuid> {
    let txn = &write.txn;
    let given_at = value::past_instant(input.given_at.unwrap_or(write.now), write.now, "input.givenAt")?;
    if let Some(expires_at) = input.expires_at {
        value::instant(expires_at, "input.expiresAt")?;
        if expires_at <= given_at {
            return Err(AppError::bad_input("input.expiresAt", "the expiry must be after `givenAt`"));
        }
    }
    person::Entity::find_by_id(input.person_id)
        .filter(scope::scope::<person::Entity>(&write.viewer))
        .one(txn)
        .await?
        .ok_or_else(|| AppError::bad_input("input.personId", "no such person"))?;
    let partner = match input.partner_organisation_id {
        Some(id) if input.scope == ConsentScope::ShareWithPartners => {
            organisation::Entity::find_by_id(id)
                .one(txn)
                .await?
                .ok_or_else(|| AppError::bad_input("input.partnerOrganisationId", "no such organisation"))?;
            Some(id)
        }
        Some(_) => {
            return Err(AppError::bad_input("input.partnerOrganisationId", "only SHARE_WITH_PARTNERS names a partner"));
        }
        None => None,
    };
    let row = consent::ActiveModel {
        id: Set(entity::new_id()),
        person_id: Set(input.person_id),
        scope: Set(input.scope),
        partner_organisation_id: Set(partner),
        given_by: Set(input.given_by),
        given_at: Set(given_at),
        expires_at: Set(input.expires_at),
        revoked_at: Set(None),
        lapse_recorded_at: Set(None),
        created_at: Set(write.now),
        updated_at: Set(write.now),
    };
    let recorded = consent::Entity::insert(row).exec_with_returning(txn).await?;
    write.audit(AuditAction::Create, "Consent", recorded.id, Some(input.person_id), None, Some(&recorded)).await?;
    if input.scope == ConsentScope::ShareWithPartners {
        feed::consent_gained(txn, input.person_id, write.now).await?;
    }
    Ok(recorded.id)
}

async fn revoke_in(write: &Write, id: Uuid) -> AppResult<Uuid> {
    let txn = &write.txn;
    let current = write.locked::<consent::Entity>(id, "consent").await?;
    if current.revoked_at.is_some() {
        return Err(AppError::Conflict("the consent is already revoked".into()));
    }
    let mut active = current.clone().into_active_model();
    active.revoked_at = Set(Some(write.now));
    active.updated_at = Set(write.now);
    let after = active.update(txn).await?;
    write.audit(AuditAction::Update, "Consent", id, Some(current.person_id), Some(&current), Some(&after)).await?;
    if current.scope == ConsentScope::ShareWithPartners {
        feed::consent_lost(txn, current.person_id, "CONSENT_REVOKED", write.now).await?;
    }
    Ok(id)
}

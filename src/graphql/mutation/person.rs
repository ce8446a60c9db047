//! Person and consent mutations: STAFF register persons; STAFF, or the volunteer whose case the person
//! is in, record and revoke consents. Revoking (or a lapsed expiry) tells the partners concerned, through
//! their feeds, to delete what they hold; a new sharing consent brings their referrals back.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use entity::enums::{AuditAction, ConsentScope as DbScope, Role};
use entity::{consent, organisation, person};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

use super::Write;
use super::case::check_kelurahan;
use crate::error::{AppError, AppResult};
use crate::graphql::ids::{self, NodeType};
use crate::graphql::types::db;
use crate::graphql::types::enums::{ConsentGiver, ConsentScope, Sex};
use crate::graphql::types::person::{Consent, Person};
use crate::policy::{self, require};
use crate::service::feed;

/// A person to register.
#[derive(InputObject, Serialize)]
pub struct RegisterPersonInput {
    /// Full name.
    pub full_name: String,
    /// The 16-digit NIK, when known. Registering a NIK already on record is CONFLICT (a duplicate).
    pub nik: Option<String>,
    /// Birth date.
    pub birth_date: NaiveDate,
    /// Sex.
    #[serde(serialize_with = "super::serialize_debug")]
    pub sex: Sex,
    /// A description of a disability, when the person has one.
    pub disability: Option<String>,
    /// Street address.
    pub address: String,
    /// Phone number.
    pub phone: Option<String>,
    /// The kelurahan the person lives in (code like `63.71.01.1001`).
    pub kelurahan_code: String,
}

/// A consent to record.
#[derive(InputObject, Serialize)]
pub struct RecordConsentInput {
    /// Whose consent.
    #[serde(serialize_with = "super::serialize_id")]
    pub person_id: ID,
    /// What it allows.
    #[serde(serialize_with = "super::serialize_debug")]
    pub scope: ConsentScope,
    /// The only partner it covers (SHARE_WITH_PARTNERS); leave out to cover every partner.
    #[serde(serialize_with = "super::serialize_opt_id")]
    pub partner_organisation_id: Option<ID>,
    /// Who gave it: the person, or their guardian (required for children's data).
    #[serde(serialize_with = "super::serialize_debug")]
    pub given_by: ConsentGiver,
    /// When it was given; default now. Not in the future.
    pub given_at: Option<DateTime<Utc>>,
    /// When it ends, if it does; after `givenAt`.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The person a mutation registered.
#[derive(SimpleObject)]
pub struct PersonPayload {
    /// The person as registered.
    pub person: Person,
}

/// The consent a mutation changed.
#[derive(SimpleObject)]
pub struct ConsentPayload {
    /// The consent as it is after the change.
    pub consent: Consent,
}

#[derive(Default)]
pub struct PersonMutation;

#[Object]
impl PersonMutation {
    /// Registers a person (STAFF). A volunteer registers the person of a new case with `reportCase`.
    async fn register_person(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The person.")] input: RegisterPersonInput,
        #[graphql(desc = "Makes retries safe: the same key and input return the first result.")]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<PersonPayload> {
        require(ctx, &[Role::Staff], "register persons")?;
        let id = run_write!(ctx, "registerPerson", idempotency_key.as_deref(), &input, |write| insert_person(
            &write, &input, "input"
        )
        .await
        .map(|p| p.id));
        let scope = policy::scope::<person::Entity>(policy::viewer(ctx)?);
        let row = person::Entity::find_by_id(id).filter(scope).one(db(ctx)?).await.map_err(AppError::from)?;
        Ok(PersonPayload { person: Person(row.ok_or_else(|| AppError::NotFound("no such person".into()))?) })
    }

    /// Records a consent (STAFF, or the volunteer whose case the person is in). A sharing consent makes
    /// the person's referrals to the partners it covers visible again in their feeds.
    async fn record_consent(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The consent.")] input: RecordConsentInput,
        #[graphql(desc = "Makes retries safe: the same key and input return the first result.")]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<ConsentPayload> {
        require(ctx, &[Role::Staff, Role::Volunteer], "record consents")?;
        let id =
            run_write!(ctx, "recordConsent", idempotency_key.as_deref(), &input, |write| record(&write, &input).await);
        consent_payload(ctx, id).await
    }

    /// Revokes a consent at once (STAFF, or the volunteer whose case the person is in). Partners that no
    /// other live consent covers get a tombstone in their feeds for each of the person's referrals.
    async fn revoke_consent(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The consent.")] id: ID,
    ) -> async_graphql::Result<ConsentPayload> {
        require(ctx, &[Role::Staff, Role::Volunteer], "revoke consents")?;
        let id = run_write!(ctx, "revokeConsent", None, &(), |write| revoke(&write, &id).await);
        consent_payload(ctx, id).await
    }
}

async fn consent_payload(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<ConsentPayload> {
    let scope = policy::scope::<consent::Entity>(policy::viewer(ctx)?);
    let row = consent::Entity::find_by_id(id).filter(scope).one(db(ctx)?).await.map_err(AppError::from)?;
    Ok(ConsentPayload { consent: Consent(row.ok_or_else(|| AppError::NotFound("no such consent".into()))?) })
}

fn required_text(text: &str, field: String, max: usize) -> AppResult<String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AppError::bad_input(field, "must not be empty"));
    }
    if text.chars().count() > max {
        return Err(AppError::bad_input(field, format!("at most {max} characters")));
    }
    Ok(text.to_owned())
}

fn optional_text(text: &Option<String>, field: String, max: usize) -> AppResult<Option<String>> {
    match text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(text) => required_text(text, field, max).map(Some),
        None => Ok(None),
    }
}

/// Validates and inserts a person; `field` is where the input sits (`input`, `input.newPerson`).
pub async fn insert_person(write: &Write, input: &RegisterPersonInput, field: &str) -> AppResult<person::Model> {
    let txn = &write.txn;
    let nik = match input.nik.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(nik) if nik.len() == 16 && nik.bytes().all(|b| b.is_ascii_digit()) => Some(nik.to_owned()),
        Some(_) => return Err(AppError::bad_input(format!("{field}.nik"), "a NIK is exactly 16 digits")),
        None => None,
    };
    if let Some(nik) = &nik {
        let taken = person::Entity::find()
            .select_only()
            .column(person::Column::Id)
            .filter(person::Column::Nik.eq(nik.as_str()));
        if taken.into_tuple::<Uuid>().one(txn).await?.is_some() {
            // Says only that the NIK is taken; STAFF can find the person with the `nik` filter.
            return Err(AppError::Conflict("a person with this NIK is already registered".into()));
        }
    }
    let today = write.now.date_naive();
    if input.birth_date > today || input.birth_date < NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(today) {
        return Err(AppError::bad_input(format!("{field}.birthDate"), "a birth date between 1900 and today"));
    }
    check_kelurahan(txn, &input.kelurahan_code, &format!("{field}.kelurahanCode")).await?;
    let phone = optional_text(&input.phone, format!("{field}.phone"), 20)?;
    if phone.as_deref().is_some_and(|p| !p.bytes().all(|b| b.is_ascii_digit() || b == b'+' || b == b' ' || b == b'-')) {
        return Err(AppError::bad_input(
            format!("{field}.phone"),
            "a phone number has digits, spaces, `+` and `-` only",
        ));
    }
    let row = person::ActiveModel {
        id: Set(entity::new_id()),
        full_name: Set(required_text(&input.full_name, format!("{field}.fullName"), 200)?),
        nik: Set(nik),
        birth_date: Set(input.birth_date),
        sex: Set(input.sex.into()),
        disability: Set(optional_text(&input.disability, format!("{field}.disability"), 500)?),
        address: Set(required_text(&input.address, format!("{field}.address"), 500)?),
        phone: Set(phone),
        kelurahan_code: Set(input.kelurahan_code.clone()),
        created_at: Set(write.now),
        updated_at: Set(write.now),
    };
    let registered = person::Entity::insert(row).exec_with_returning(txn).await?;
    write.audit(AuditAction::Create, "Person", registered.id, Some(registered.id), None, Some(&registered)).await?;
    Ok(registered)
}

async fn record(write: &Write, input: &RecordConsentInput) -> AppResult<Uuid> {
    let txn = &write.txn;
    let person_id = ids::decode_uuid(&input.person_id, NodeType::Person, "input.personId")?;
    person::Entity::find_by_id(person_id)
        .filter(policy::scope::<person::Entity>(&write.viewer))
        .one(txn)
        .await?
        .ok_or_else(|| AppError::bad_input("input.personId", "no such person"))?;
    let scope: DbScope = input.scope.into();
    let partner = match &input.partner_organisation_id {
        Some(id) if scope == DbScope::ShareWithPartners => {
            let id = ids::decode_uuid(id, NodeType::Organisation, "input.partnerOrganisationId")?;
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
    let given_at = input.given_at.unwrap_or(write.now);
    if given_at > write.now {
        return Err(AppError::bad_input("input.givenAt", "a consent cannot be given in the future"));
    }
    if input.expires_at.is_some_and(|expires| expires <= given_at) {
        return Err(AppError::bad_input("input.expiresAt", "the expiry must be after `givenAt`"));
    }
    let row = consent::ActiveModel {
        id: Set(entity::new_id()),
        person_id: Set(person_id),
        scope: Set(scope),
        partner_organisation_id: Set(partner),
        given_by: Set(input.given_by.into()),
        given_at: Set(given_at),
        expires_at: Set(input.expires_at),
        revoked_at: Set(None),
        lapse_recorded_at: Set(None),
        created_at: Set(write.now),
        updated_at: Set(write.now),
    };
    let recorded = consent::Entity::insert(row).exec_with_returning(txn).await?;
    write.audit(AuditAction::Create, "Consent", recorded.id, Some(person_id), None, Some(&recorded)).await?;
    if scope == DbScope::ShareWithPartners {
        feed::consent_gained(txn, person_id, write.now).await?;
    }
    Ok(recorded.id)
}

async fn revoke(write: &Write, id: &ID) -> AppResult<Uuid> {
    let txn = &write.txn;
    let id = ids::decode_uuid(id, NodeType::Consent, "id")?;
    let current = write.locked::<consent::Entity>(id, "consent").await?;
    if current.revoked_at.is_some() {
        return Err(AppError::Conflict("the consent is already revoked".into()));
    }
    let mut active = current.clone().into_active_model();
    active.revoked_at = Set(Some(write.now));
    active.updated_at = Set(write.now);
    let after = active.update(txn).await?;
    write.audit(AuditAction::Update, "Consent", id, Some(current.person_id), Some(&current), Some(&after)).await?;
    if current.scope == DbScope::ShareWithPartners {
        feed::consent_lost(txn, current.person_id, "CONSENT_REVOKED", write.now).await?;
    }
    Ok(id)
}

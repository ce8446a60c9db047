//! Person and consent mutations: decode the arguments into the commands of [`service::person`] and
//! return the changed person or consent. The rules (NIK duplicates, consent feeds, audit) live in the
//! service.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{consent, person};

use super::case::decode_opt;
use super::{actor, prepare, reload};
use crate::graphql::ids::{self, NodeType};
use crate::graphql::types::enums::{ConsentGiver, ConsentScope, Sex};
use crate::graphql::types::person::{Consent, Person};
use crate::service::access::Command;
use crate::service::person::{self as service, NewPerson, RecordConsent};
use crate::service::write::Operation;

/// A person to register.
#[derive(InputObject)]
pub struct RegisterPersonInput {
    /// Full name.
    pub full_name: String,
    /// The 16-digit NIK, when known. Registering a NIK already on record is CONFLICT (a duplicate).
    pub nik: Option<String>,
    /// Birth date.
    pub birth_date: NaiveDate,
    /// Sex.
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
#[derive(InputObject)]
pub struct RecordConsentInput {
    /// Whose consent.
    pub person_id: ID,
    /// What it allows.
    pub scope: ConsentScope,
    /// The only partner it covers (SHARE_WITH_PARTNERS); leave out to cover every partner.
    pub partner_organisation_id: Option<ID>,
    /// Who gave it: the person, or their guardian (required for children's data).
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

impl RegisterPersonInput {
    /// The person as the service takes it.
    pub fn command(&self) -> NewPerson {
        NewPerson {
            full_name: self.full_name.clone(),
            nik: self.nik.clone(),
            birth_date: self.birth_date,
            sex: self.sex.into(),
            disability: self.disability.clone(),
            address: self.address.clone(),
            phone: self.phone.clone(),
            kelurahan_code: self.kelurahan_code.clone(),
        }
    }
}

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
        let actor = actor(ctx)?;
        let command = input.command();
        let id = service::register(&actor, idempotency_key.as_deref(), &command).await?;
        Ok(PersonPayload { person: Person(reload::<person::Entity>(ctx, id, "person").await?) })
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
        let actor = actor(ctx)?;
        let command = prepare(&actor, &Operation::new(Command::RecordConsent, &[]), || {
            Ok(RecordConsent {
                person_id: ids::decode_uuid(&input.person_id, NodeType::Person, "input.personId")?,
                scope: input.scope.into(),
                partner_organisation_id: decode_opt(
                    &input.partner_organisation_id,
                    NodeType::Organisation,
                    "input.partnerOrganisationId",
                )?,
                given_by: input.given_by.into(),
                given_at: input.given_at,
                expires_at: input.expires_at,
            })
        })
        .await?;
        let id = service::record_consent(&actor, idempotency_key.as_deref(), &command).await?;
        consent_payload(ctx, id).await
    }

    /// Revokes a consent at once (STAFF, or the volunteer whose case the person is in). Partners that no
    /// other live consent covers get a tombstone in their feeds for each of the person's referrals.
    async fn revoke_consent(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The consent.")] id: ID,
    ) -> async_graphql::Result<ConsentPayload> {
        let actor = actor(ctx)?;
        let operation = Operation::new(Command::RevokeConsent, &[]);
        let id = prepare(&actor, &operation, || ids::decode_uuid(&id, NodeType::Consent, "id")).await?;
        let id = service::revoke_consent(&actor, id).await?;
        consent_payload(ctx, id).await
    }
}

async fn consent_payload(ctx: &Context<'_>, id: uuid::Uuid) -> async_graphql::Result<ConsentPayload> {
    Ok(ConsentPayload { consent: Consent(reload::<consent::Entity>(ctx, id, "consent").await?) })
}

//! Referrals of cases to partner organisations, with their append-only event log.

use async_graphql::{Context, Enum, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use entity::{case, organisation, referral, referral_event};
use sea_orm::{ColumnTrait, Condition};

use crate::error::AppResult;
use crate::graphql::connection::{ChildOf, KeyValue, Listed, Ordering};
use crate::graphql::guard;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::loaders::{self, Children, Joined};
use crate::graphql::types::case::Case;
use crate::graphql::types::enums::{OrderDirection, ReferralReason, ReferralStatus, stored};
use crate::graphql::types::organisation::Organisation;
use crate::graphql::types::region::cases_in;
use crate::graphql::types::{InstantRange, any_of, connection_types};
use crate::service::policy::Text;
use crate::service::scope::Scoped;

/// A case sent from one organisation (usually Dinsos) to another (usually a partner NGO), which
/// accepts or declines it and, once accepted, completes it.
#[derive(Clone)]
pub struct Referral(pub referral::Model, pub ReferralJoins);

/// The to-one rows of a referral read with it (see [`loaders::Joined`]).
#[derive(Clone, Default)]
pub struct ReferralJoins {
    case: Joined<case::Model>,
    to_organisation: Joined<organisation::Model>,
}

impl From<referral::Model> for Referral {
    fn from(row: referral::Model) -> Self {
        Referral(row, ReferralJoins::default())
    }
}

impl Referral {
    /// A referral read with its case.
    pub fn with_case((row, case): (referral::Model, Option<case::Model>)) -> Self {
        Referral(row, ReferralJoins { case: Joined::Read(case), ..ReferralJoins::default() })
    }

    /// A referral read with its receiving organisation.
    pub fn with_organisation((row, organisation): (referral::Model, Option<organisation::Model>)) -> Self {
        Referral(row, ReferralJoins { to_organisation: Joined::Read(organisation), ..ReferralJoins::default() })
    }
}

/// A case sent from one organisation (usually Dinsos) to another (usually a partner NGO), which
/// accepts or declines it and, once accepted, completes it.
#[Object]
impl Referral {
    /// Global id of the referral.
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::Referral, self.0.id)
    }

    /// Where the referral stands.
    async fn status(&self) -> ReferralStatus {
        self.0.status.into()
    }

    /// Why it was declined, withdrawn or expired; null otherwise.
    async fn reason(&self) -> Option<ReferralReason> {
        self.0.reason.map(Into::into)
    }

    /// Note from the sender about what the person needs: free text, so personal data, readable by
    /// whoever may read the person's personal data (for the receiving partner: only under the person's
    /// live consent to share with it); otherwise null with a `FORBIDDEN` error.
    async fn note(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
        let subject = ("Referral", self.0.id, "note");
        Ok(guard::text(ctx, self.0.note.as_deref(), self.0.case_id, Text::Narrative, subject).await?)
    }

    /// When it was sent.
    async fn sent_at(&self) -> DateTime<Utc> {
        self.0.sent_at
    }

    /// The receiver must answer by then, or the referral expires.
    async fn respond_by(&self) -> DateTime<Utc> {
        self.0.respond_by
    }

    /// When the receiver accepted or declined; null before.
    async fn responded_at(&self) -> Option<DateTime<Utc>> {
        self.0.responded_at
    }

    /// When the receiver completed its work; null before.
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at
    }

    /// Hours from sending to the receiver's answer; null while unanswered.
    async fn hours_to_respond(&self) -> Option<i64> {
        self.0.responded_at.map(|at| (at - self.0.sent_at).num_hours())
    }

    /// Version of the record, raised by every change. Pass it back to `acceptReferral` and the other
    /// answers: an answer based on an older version is refused with CONFLICT.
    async fn version(&self) -> i32 {
        self.0.version
    }

    /// Why Dinsos sent this referral without the person's consent to share with this partner (for
    /// example an emergency); null when the consent allowed it. Without consent, no personal data of
    /// the person is served to the partner.
    ///
    /// The reason is a judgement about the person: STAFF keys only; others get null with `FORBIDDEN`
    /// (`consentOverridden` tells anyone who sees the referral whether consent was overridden).
    async fn consent_override_reason(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
        let subject = ("Referral", self.0.id, "consentOverrideReason");
        let reason = self.0.consent_override_reason.as_deref();
        Ok(guard::text(ctx, reason, self.0.case_id, Text::OverrideReason, subject).await?)
    }

    /// True when Dinsos sent this referral without the person's consent to share with this partner (an
    /// override, for example in an emergency): the partner then receives no personal data of the person.
    async fn consent_overridden(&self) -> bool {
        self.0.consent_override_reason.is_some()
    }

    /// The referred case.
    async fn case(&self, ctx: &Context<'_>) -> async_graphql::Result<Case> {
        Ok(Case::from(loaders::required_joined_row::<case::Entity>(ctx, &self.1.case, self.0.case_id).await?))
    }

    /// The sending organisation.
    #[graphql(name = "fromOrganisation")]
    async fn sending_organisation(&self, ctx: &Context<'_>) -> async_graphql::Result<Organisation> {
        Ok(Organisation(loaders::required_row::<organisation::Entity>(ctx, self.0.from_organisation_id).await?))
    }

    /// The receiving organisation.
    async fn to_organisation(&self, ctx: &Context<'_>) -> async_graphql::Result<Organisation> {
        let (joined, key) = (&self.1.to_organisation, self.0.to_organisation_id);
        Ok(Organisation(loaders::required_joined_row::<organisation::Entity>(ctx, joined, key).await?))
    }

    /// Every transition of the referral, oldest first; the first is the sending.
    async fn events(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ReferralEvent>> {
        Ok(loaders::children::<ReferralEvents>(ctx, self.0.id).await?.into_iter().map(ReferralEvent).collect())
    }

    /// When the referral was recorded.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the referral last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// One transition of a referral, in its append-only log.
#[derive(Clone)]
pub struct ReferralEvent(pub referral_event::Model);

/// One transition of a referral, in its append-only log.
#[Object]
impl ReferralEvent {
    /// Global id of the event.
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::ReferralEvent, self.0.id)
    }

    /// Status before; null for the sending.
    async fn from_status(&self) -> Option<ReferralStatus> {
        self.0.from_status.map(Into::into)
    }

    /// Status after.
    async fn to_status(&self) -> ReferralStatus {
        self.0.to_status.into()
    }

    /// Coded reason, for declines, withdrawals and expiries.
    async fn reason(&self) -> Option<ReferralReason> {
        self.0.reason.map(Into::into)
    }

    /// Who made the transition. STAFF and ADMIN keys read the full label (role, key prefix and key
    /// name); other keys read only the kind of actor: `Dinsos staff`, `PSM volunteer`, `partner
    /// organisation` or `system` (for expiry).
    async fn actor(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(guard::actor(ctx, &self.0.actor)?)
    }

    /// When it happened.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }

    /// Note left with the transition: free text, so personal data, readable by whoever may read the
    /// person's personal data (for the receiving partner: only under the person's live consent to share
    /// with it); otherwise null with a `FORBIDDEN` error.
    async fn note(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
        let referral = loaders::required_row::<referral::Entity>(ctx, self.0.referral_id).await?;
        let subject = ("ReferralEvent", self.0.id, "note");
        Ok(guard::text(ctx, self.0.note.as_deref(), referral.case_id, Text::Narrative, subject).await?)
    }

    /// The referral.
    async fn referral(&self, ctx: &Context<'_>) -> async_graphql::Result<Referral> {
        Ok(Referral::from(loaders::required_row::<referral::Entity>(ctx, self.0.referral_id).await?))
    }
}

/// A referral's events.
pub struct ReferralEvents;

impl Children for ReferralEvents {
    type Entity = referral_event::Entity;
    type ParentKey = uuid::Uuid;
    fn parent_column() -> referral_event::Column {
        referral_event::Column::ReferralId
    }
    fn parent_of(model: &referral_event::Model) -> uuid::Uuid {
        model.referral_id
    }
    fn order_column() -> referral_event::Column {
        referral_event::Column::OccurredAt
    }
}

/// The referrals an organisation received.
pub struct ReceivedReferrals;

impl ChildOf for ReceivedReferrals {
    type Entity = referral::Entity;
    fn parent_column() -> referral::Column {
        referral::Column::ToOrganisationId
    }
    fn parent_of(model: &referral::Model) -> Option<uuid::Uuid> {
        Some(model.to_organisation_id)
    }
}

/// What referrals can be ordered by.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReferralOrderField {
    /// When it was sent (the default, newest first).
    SentAt,
    /// When it last changed.
    UpdatedAt,
    /// Its response deadline.
    RespondBy,
}

/// Order of a referral list.
#[derive(InputObject, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReferralOrder {
    /// Column to order by.
    pub field: ReferralOrderField,
    /// Direction.
    #[graphql(default)]
    pub direction: OrderDirection,
}

impl ReferralOrder {
    pub fn ordering(order: Option<ReferralOrder>) -> Ordering<ReferralOrderField> {
        let order =
            order.unwrap_or(ReferralOrder { field: ReferralOrderField::SentAt, direction: OrderDirection::Desc });
        Ordering { sort: order.field, descending: order.direction == OrderDirection::Desc }
    }
}

/// Which referrals to list. All given conditions must hold; a list matches any of its values.
#[derive(InputObject, Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ReferralFilter {
    /// Only referrals with one of these statuses.
    pub status: Option<Vec<ReferralStatus>>,
    /// Only referrals with one of these reasons.
    pub reason: Option<Vec<ReferralReason>>,
    /// Only referrals sent by one of these organisations (Organisation ids).
    pub from_organisation_ids: Option<Vec<ID>>,
    /// Only referrals sent to one of these organisations (Organisation ids).
    pub to_organisation_ids: Option<Vec<ID>>,
    /// Only referrals sent within this range of instants.
    pub sent: Option<InstantRange>,
    /// Only referrals changed at or after this instant (RFC 3339 with offset).
    pub updated_since: Option<DateTime<Utc>>,
    /// Only referrals of cases in a kelurahan of one of these kecamatan.
    pub district_codes: Option<Vec<String>>,
    /// Only referrals of cases in one of these kelurahan.
    pub kelurahan_codes: Option<Vec<String>>,
    /// Only referrals of this case (a Case id).
    pub case_id: Option<ID>,
}

fn organisation_ids(ids: &[ID], field: &str) -> AppResult<Vec<uuid::Uuid>> {
    ids.iter().map(|id| ids::decode_uuid(id, NodeType::Organisation, field)).collect()
}

impl ReferralFilter {
    pub fn condition(&self, scoped: &Scoped) -> AppResult<Condition> {
        let statuses: Option<Vec<entity::enums::ReferralStatus>> = self.status.as_deref().map(stored);
        let reasons: Option<Vec<entity::enums::ReferralReason>> = self.reason.as_deref().map(stored);
        let mut condition = any_of(Condition::all(), referral::Column::Status, statuses.as_ref());
        condition = any_of(condition, referral::Column::Reason, reasons.as_ref());
        if let Some(ids) = &self.from_organisation_ids {
            condition = condition
                .add(referral::Column::FromOrganisationId.is_in(organisation_ids(ids, "filter.fromOrganisationIds")?));
        }
        if let Some(ids) = &self.to_organisation_ids {
            condition = condition
                .add(referral::Column::ToOrganisationId.is_in(organisation_ids(ids, "filter.toOrganisationIds")?));
        }
        if let Some(range) = &self.sent {
            condition = range.apply(condition, referral::Column::SentAt, "filter.sent")?;
        }
        if let Some(since) = self.updated_since {
            condition = condition.add(referral::Column::UpdatedAt.gte(since));
        }
        if let Some(cases) = cases_in(scoped, self.kelurahan_codes.as_deref(), self.district_codes.as_deref()) {
            condition = condition.add(referral::Column::CaseId.in_subquery(cases));
        }
        if let Some(id) = &self.case_id {
            let id = ids::decode_uuid(id, NodeType::Case, "filter.caseId")?;
            let case = scoped.ids::<case::Entity>(case::Column::Id, Condition::all().add(case::Column::Id.eq(id)));
            condition = condition.add(referral::Column::CaseId.in_subquery(case));
        }
        Ok(condition)
    }
}

impl Listed for referral::Entity {
    type Sort = ReferralOrderField;

    fn sort_column(sort: ReferralOrderField) -> referral::Column {
        match sort {
            ReferralOrderField::SentAt => referral::Column::SentAt,
            ReferralOrderField::UpdatedAt => referral::Column::UpdatedAt,
            ReferralOrderField::RespondBy => referral::Column::RespondBy,
        }
    }
    fn sort_value(model: &referral::Model, sort: ReferralOrderField) -> KeyValue {
        match sort {
            ReferralOrderField::SentAt => KeyValue::Instant(model.sent_at),
            ReferralOrderField::UpdatedAt => KeyValue::Instant(model.updated_at),
            ReferralOrderField::RespondBy => KeyValue::Instant(model.respond_by),
        }
    }
}

connection_types!(ReferralConnection, ReferralEdge, Referral, "A page of referrals.", "A referral and its cursor.");

/// No personal inputs: which rows match, and how they sort, reveal no personal data.
impl crate::graphql::guard::PersonalInputs for ReferralFilter {}
impl crate::graphql::guard::PersonalInputs for ReferralOrder {}

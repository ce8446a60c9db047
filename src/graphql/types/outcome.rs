//! Outcomes: what actually happened for the person, kept apart from case and referral status.

use async_graphql::{Context, Enum, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use entity::{case, outcome, programme, referral};
use sea_orm::{ColumnTrait, Condition};

use crate::error::AppResult;
use crate::graphql::connection::{KeyValue, Listed, Ordering};
use crate::graphql::guard;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::loaders;
use crate::graphql::types::case::Case;
use crate::graphql::types::enums::{OrderDirection, OutcomeGroup, OutcomeType, stored};
use crate::graphql::types::programme::Programme;
use crate::graphql::types::referral::Referral;
use crate::graphql::types::region::cases_in;
use crate::graphql::types::{InstantRange, any_of, connection_types};
use crate::service::policy::Text;
use crate::service::scope::Scoped;

/// What actually happened for the person: "closed" is not "helped". Recorded by a volunteer, staff or a
/// partner, and verified by Dinsos.
#[derive(Clone)]
pub struct Outcome(pub outcome::Model);

impl From<outcome::Model> for Outcome {
    fn from(row: outcome::Model) -> Self {
        Outcome(row)
    }
}

/// What actually happened for the person: "closed" is not "helped". Recorded by a volunteer, staff or a
/// partner, and verified by Dinsos.
#[Object]
impl Outcome {
    /// Global id of the outcome.
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::Outcome, self.0.id)
    }

    /// What happened.
    async fn outcome_type(&self) -> OutcomeType {
        self.0.outcome_type.into()
    }

    /// The group of the outcome type: success, needs follow-up, or neutral.
    async fn outcome_group(&self) -> OutcomeGroup {
        self.0.outcome_group.into()
    }

    /// Who recorded it. STAFF and ADMIN keys read the full label (role, key prefix and key name); other
    /// keys read only the kind of actor: `Dinsos staff`, `PSM volunteer`, `partner organisation` or
    /// `system`.
    async fn recorded_by(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(guard::actor(ctx, &self.0.recorded_by)?)
    }

    /// When it was recorded.
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.recorded_at
    }

    /// Whether Dinsos verified it.
    async fn verified(&self) -> bool {
        self.0.verified
    }

    /// When it was verified; null until then.
    async fn verified_at(&self) -> Option<DateTime<Utc>> {
        self.0.verified_at
    }

    /// Note left with the outcome: free text, so personal data, readable by whoever may read the
    /// person's personal data (for a partner: only under the person's live consent to share with it);
    /// otherwise null with a `FORBIDDEN` error.
    async fn note(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
        let subject = ("Outcome", self.0.id, "note");
        Ok(guard::text(ctx, self.0.note.as_deref(), self.0.case_id, Text::Narrative, subject).await?)
    }

    /// The case the outcome belongs to.
    async fn case(&self, ctx: &Context<'_>) -> async_graphql::Result<Case> {
        Ok(Case::from(loaders::required_row::<case::Entity>(ctx, self.0.case_id).await?))
    }

    /// The referral that led to it, when one did.
    async fn referral(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Referral>> {
        match self.0.referral_id {
            Some(id) => Ok(loaders::row::<referral::Entity>(ctx, id).await?.map(Referral::from)),
            None => Ok(None),
        }
    }

    /// The programme that delivered it, when one did.
    async fn programme(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Programme>> {
        match self.0.programme_id {
            Some(id) => Ok(loaders::row::<programme::Entity>(ctx, id).await?.map(Programme)),
            None => Ok(None),
        }
    }

    /// When the outcome was recorded in the system.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the outcome last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// What outcomes can be ordered by.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutcomeOrderField {
    /// When it was recorded (the default, newest first).
    RecordedAt,
}

/// Order of an outcome list.
#[derive(InputObject, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OutcomeOrder {
    /// Column to order by.
    pub field: OutcomeOrderField,
    /// Direction.
    #[graphql(default)]
    pub direction: OrderDirection,
}

impl OutcomeOrder {
    pub fn ordering(order: Option<OutcomeOrder>) -> Ordering<OutcomeOrderField> {
        let order =
            order.unwrap_or(OutcomeOrder { field: OutcomeOrderField::RecordedAt, direction: OrderDirection::Desc });
        Ordering { sort: order.field, descending: order.direction == OrderDirection::Desc }
    }
}

/// Which outcomes to list. All given conditions must hold; a list matches any of its values.
#[derive(InputObject, Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct OutcomeFilter {
    /// Only these outcome types.
    pub outcome_type: Option<Vec<OutcomeType>>,
    /// Only these outcome groups.
    pub outcome_group: Option<Vec<OutcomeGroup>>,
    /// True: only verified outcomes; false: only unverified ones.
    pub verified: Option<bool>,
    /// Only outcomes recorded within this range of instants.
    pub recorded: Option<InstantRange>,
    /// Only outcomes delivered by one of these programmes (Programme ids).
    pub programme_ids: Option<Vec<ID>>,
    /// Only outcomes of cases in a kelurahan of one of these kecamatan.
    pub district_codes: Option<Vec<String>>,
    /// Only outcomes of cases in one of these kelurahan.
    pub kelurahan_codes: Option<Vec<String>>,
    /// Only outcomes of this case (a Case id).
    pub case_id: Option<ID>,
}

impl OutcomeFilter {
    pub fn condition(&self, scoped: &Scoped) -> AppResult<Condition> {
        let types: Option<Vec<entity::enums::OutcomeType>> = self.outcome_type.as_deref().map(stored);
        let groups: Option<Vec<entity::enums::OutcomeGroup>> = self.outcome_group.as_deref().map(stored);
        let mut condition = any_of(Condition::all(), outcome::Column::OutcomeType, types.as_ref());
        condition = any_of(condition, outcome::Column::OutcomeGroup, groups.as_ref());
        if let Some(verified) = self.verified {
            condition = condition.add(outcome::Column::Verified.eq(verified));
        }
        if let Some(range) = &self.recorded {
            condition = range.apply(condition, outcome::Column::RecordedAt, "filter.recorded")?;
        }
        if let Some(ids) = &self.programme_ids {
            let ids = ids
                .iter()
                .map(|id| ids::decode_uuid(id, NodeType::Programme, "filter.programmeIds"))
                .collect::<AppResult<Vec<_>>>()?;
            condition = condition.add(outcome::Column::ProgrammeId.is_in(ids));
        }
        if let Some(cases) = cases_in(scoped, self.kelurahan_codes.as_deref(), self.district_codes.as_deref()) {
            condition = condition.add(outcome::Column::CaseId.in_subquery(cases));
        }
        if let Some(id) = &self.case_id {
            let id = ids::decode_uuid(id, NodeType::Case, "filter.caseId")?;
            let case = scoped.ids::<entity::case::Entity>(
                entity::case::Column::Id,
                Condition::all().add(entity::case::Column::Id.eq(id)),
            );
            condition = condition.add(outcome::Column::CaseId.in_subquery(case));
        }
        Ok(condition)
    }
}

impl Listed for outcome::Entity {
    type Sort = OutcomeOrderField;

    fn sort_column(sort: OutcomeOrderField) -> outcome::Column {
        match sort {
            OutcomeOrderField::RecordedAt => outcome::Column::RecordedAt,
        }
    }
    fn sort_value(model: &outcome::Model, sort: OutcomeOrderField) -> KeyValue {
        match sort {
            OutcomeOrderField::RecordedAt => KeyValue::Instant(model.recorded_at),
        }
    }
}

connection_types!(OutcomeConnection, OutcomeEdge, Outcome, "A page of outcomes.", "An outcome and its cursor.");

/// No personal inputs: which rows match, and how they sort, reveal no personal data.
impl crate::graphql::guard::PersonalInputs for OutcomeFilter {}
impl crate::graphql::guard::PersonalInputs for OutcomeOrder {}

//! Cases: a person in one or more PPKS categories, with their status history.

use async_graphql::{Context, Enum, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use entity::{
    case, case_category, case_status_change, enrollment, organisation, outcome, person, referral, region, volunteer,
};
use sea_orm::{ColumnTrait, Condition};

use crate::error::AppResult;
use crate::graphql::connection::{KeyValue, Listed, Ordering};
use crate::graphql::guard::{self, reveal_case_narrative};
use crate::graphql::ids::{self, NodeType};
use crate::graphql::loaders::{self, Children, ChildrenWith, Joined};
use crate::graphql::types::enums::{
    CaseSource, CaseStatus, ClosureReason, OrderDirection, PpksCategory, Urgency, stored,
};
use crate::graphql::types::outcome::Outcome;
use crate::graphql::types::person::Person;
use crate::graphql::types::programme::Enrollment;
use crate::graphql::types::referral::Referral;
use crate::graphql::types::region::{Region, district_kelurahan};
use crate::graphql::types::volunteer::Volunteer;
use crate::graphql::types::{InstantRange, any_of, connection_types};
use crate::service::policy::Text;
use crate::service::scope::Scoped;

/// A social case: a person in need (in one or more PPKS categories) found by a PSM volunteer or
/// reported to Dinsos, followed from report to closure.
#[derive(Clone)]
pub struct Case(pub case::Model, pub CaseJoins);

/// What was read with a case by the statement that read it (see [`loaders::Joined`]).
#[derive(Clone, Default)]
pub struct CaseJoins {
    volunteer: Joined<volunteer::Model>,
    /// Every outcome of the case the caller may see, oldest first; `None` when not read with it.
    outcomes: Option<Vec<outcome::Model>>,
}

impl From<case::Model> for Case {
    fn from(row: case::Model) -> Self {
        Case(row, CaseJoins::default())
    }
}

impl Case {
    /// A case read with its reporting volunteer.
    pub fn with_volunteer((row, volunteer): (case::Model, Option<volunteer::Model>)) -> Self {
        Case(row, CaseJoins { volunteer: Joined::Read(volunteer), ..CaseJoins::default() })
    }

    /// A case read with its outcomes, and with its reporting volunteer when that was joined too.
    pub fn with_outcomes(
        (row, volunteer, outcomes): (case::Model, Option<Option<volunteer::Model>>, Vec<outcome::Model>),
    ) -> Self {
        let volunteer = volunteer.map_or(Joined::Apart, Joined::Read);
        Case(row, CaseJoins { volunteer, outcomes: Some(outcomes) })
    }
}

/// A social case: a person in need (in one or more PPKS categories) found by a PSM volunteer or
/// reported to Dinsos, followed from report to closure.
#[Object]
impl Case {
    /// Global id of the case.
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::Case, self.0.id)
    }

    /// Human-readable reference, e.g. `PSM-2025-000123`, unique.
    async fn reference_number(&self) -> &str {
        &self.0.reference_number
    }

    /// Where the case is in its lifecycle.
    async fn status(&self) -> CaseStatus {
        self.0.status.into()
    }

    /// How quickly it needs attention.
    async fn urgency(&self) -> Urgency {
        self.0.urgency.into()
    }

    /// How the case came in.
    async fn source(&self) -> CaseSource {
        self.0.source.into()
    }

    /// Short description of the situation, written by the reporter. It names people and their
    /// circumstances, so it is personal data: readable by whoever may read the person's personal data.
    async fn summary(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
        reveal_case_narrative(ctx, &self.0, "summary").await?;
        Ok(Some(&self.0.summary))
    }

    /// When the case was opened (reported).
    async fn opened_at(&self) -> DateTime<Utc> {
        self.0.opened_at
    }

    /// When the case was closed; null while it is open.
    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.0.closed_at
    }

    /// Why the case was closed; null while it is open.
    async fn closure_reason(&self) -> Option<ClosureReason> {
        self.0.closure_reason.map(Into::into)
    }

    /// Whole days the case has been open: until it closed, or until now while it is open.
    async fn days_open(&self) -> i64 {
        let end = self.0.closed_at.unwrap_or_else(Utc::now);
        std::cmp::max((end - self.0.opened_at).num_days(), 0)
    }

    /// Version of the record, raised by every change; send it back with updates to avoid overwriting
    /// someone else's change.
    async fn version(&self) -> i32 {
        self.0.version
    }

    /// The person the case is about.
    async fn person(&self, ctx: &Context<'_>) -> async_graphql::Result<Person> {
        Ok(Person(loaders::required_row::<person::Entity>(ctx, self.0.person_id).await?))
    }

    /// The PSM volunteer who reported the case; null when Dinsos staff reported it.
    async fn reporting_volunteer(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Volunteer>> {
        match self.0.reporting_volunteer_id {
            Some(id) => Ok(loaders::joined_row::<volunteer::Entity>(ctx, &self.1.volunteer, id).await?.map(Volunteer)),
            None => Ok(None),
        }
    }

    /// The kelurahan where the case is.
    async fn kelurahan(&self, ctx: &Context<'_>) -> async_graphql::Result<Region> {
        Ok(Region(loaders::required_row::<region::Entity>(ctx, self.0.kelurahan_code.clone()).await?))
    }

    /// The PPKS categories of the case (one or more), in alphabetical order of their codes.
    async fn categories(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PpksCategory>> {
        let rows = loaders::children::<CaseCategories>(ctx, self.0.id).await?;
        Ok(rows.into_iter().map(|row| row.category.into()).collect())
    }

    /// Every status change of the case, oldest first; the first entry is the report itself.
    async fn status_history(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CaseStatusChange>> {
        Ok(loaders::children::<CaseStatusHistory>(ctx, self.0.id).await?.into_iter().map(CaseStatusChange).collect())
    }

    /// The programmes the case is or was enrolled in, oldest first.
    async fn enrollments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Enrollment>> {
        Ok(loaders::children::<CaseEnrollments>(ctx, self.0.id).await?.into_iter().map(Enrollment).collect())
    }

    /// Referrals of the case to partner organisations, oldest first.
    async fn referrals(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Referral>> {
        if ctx.look_ahead().field("toOrganisation").exists() {
            let rows = loaders::children_with::<organisation::Entity, CaseReferrals>(ctx, self.0.id).await?;
            return Ok(rows.into_iter().map(Referral::with_organisation).collect());
        }
        Ok(loaders::children::<CaseReferrals>(ctx, self.0.id).await?.into_iter().map(Referral::from).collect())
    }

    /// What actually happened for the person, oldest first (separate from the case's status).
    async fn outcomes(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Outcome>> {
        if let Some(outcomes) = &self.1.outcomes {
            return Ok(outcomes.iter().cloned().map(Outcome).collect());
        }
        Ok(loaders::children::<CaseOutcomes>(ctx, self.0.id).await?.into_iter().map(Outcome).collect())
    }

    /// When the case was recorded.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the case last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// One entry of a case's append-only status history.
#[derive(Clone)]
pub struct CaseStatusChange(pub case_status_change::Model);

/// One entry of a case's append-only status history.
#[Object]
impl CaseStatusChange {
    /// Global id of the entry.
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::CaseStatusChange, self.0.id)
    }

    /// Status before the change; null for the entry that opened the case.
    async fn from_status(&self) -> Option<CaseStatus> {
        self.0.from_status.map(Into::into)
    }

    /// Status after the change.
    async fn to_status(&self) -> CaseStatus {
        self.0.to_status.into()
    }

    /// When the change happened.
    async fn changed_at(&self) -> DateTime<Utc> {
        self.0.changed_at
    }

    /// Who made the change. STAFF and ADMIN keys read the full label (role, key prefix and key name);
    /// other keys read only the kind of actor: `Dinsos staff`, `PSM volunteer`, `partner organisation`
    /// or `system`.
    async fn changed_by(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(guard::actor(ctx, &self.0.changed_by)?)
    }

    /// Note left with the change: Dinsos' internal working note, free text and so personal data.
    /// Readable by STAFF and by the volunteer who reported the case; never by partners (such notes may
    /// name other organisations involved) nor by DASHBOARD or ADMIN keys (`FORBIDDEN`).
    async fn note(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
        let subject = ("CaseStatusChange", self.0.id, "note");
        Ok(guard::text(ctx, self.0.note.as_deref(), self.0.case_id, Text::Internal, subject).await?)
    }

    /// The case that changed.
    async fn case(&self, ctx: &Context<'_>) -> async_graphql::Result<Case> {
        Ok(Case::from(loaders::required_row::<case::Entity>(ctx, self.0.case_id).await?))
    }
}

macro_rules! case_children {
    ($name:ident, $module:ident, $order:ident, $doc:literal) => {
        #[doc = $doc]
        pub struct $name;

        impl Children for $name {
            type Entity = $module::Entity;
            type ParentKey = uuid::Uuid;
            fn parent_column() -> $module::Column {
                $module::Column::CaseId
            }
            fn parent_of(model: &$module::Model) -> uuid::Uuid {
                model.case_id
            }
            fn order_column() -> $module::Column {
                $module::Column::$order
            }
        }
    };
}

case_children!(CaseCategories, case_category, Category, "A case's PPKS categories.");
case_children!(CaseStatusHistory, case_status_change, ChangedAt, "A case's status history.");
case_children!(CaseEnrollments, enrollment, EnrolledAt, "A case's enrollments.");
case_children!(CaseReferrals, referral, SentAt, "A case's referrals.");
case_children!(CaseOutcomes, outcome, RecordedAt, "A case's outcomes.");

/// A page that lists a case's referrals usually shows where each went.
impl ChildrenWith<organisation::Entity> for CaseReferrals {
    fn link() -> referral::Column {
        referral::Column::ToOrganisationId
    }
}

/// What cases can be ordered by.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaseOrderField {
    /// When the case was opened (the default, newest first).
    OpenedAt,
    /// When the case last changed.
    UpdatedAt,
    /// Reference number.
    ReferenceNumber,
}

/// Order of a case list.
#[derive(InputObject, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CaseOrder {
    /// Column to order by.
    pub field: CaseOrderField,
    /// Direction.
    #[graphql(default)]
    pub direction: OrderDirection,
}

impl CaseOrder {
    pub fn ordering(order: Option<CaseOrder>) -> Ordering<CaseOrderField> {
        let order = order.unwrap_or(CaseOrder { field: CaseOrderField::OpenedAt, direction: OrderDirection::Desc });
        Ordering { sort: order.field, descending: order.direction == OrderDirection::Desc }
    }
}

/// Which cases to list. All given conditions must hold; a list matches any of its values.
#[derive(InputObject, Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CaseFilter {
    /// Only cases with one of these statuses.
    pub status: Option<Vec<CaseStatus>>,
    /// Only cases carrying at least one of these PPKS categories.
    pub categories: Option<Vec<PpksCategory>>,
    /// Only cases in a kelurahan of one of these kecamatan (codes like `63.71.01`).
    pub district_codes: Option<Vec<String>>,
    /// Only cases in one of these kelurahan (codes like `63.71.01.1001`).
    pub kelurahan_codes: Option<Vec<String>>,
    /// Only cases opened within this range of instants.
    pub opened: Option<InstantRange>,
    /// Only cases closed within this range of instants.
    pub closed: Option<InstantRange>,
    /// Only cases changed at or after this instant (RFC 3339 with offset).
    pub updated_since: Option<DateTime<Utc>>,
    /// Only cases with one of these urgencies.
    pub urgency: Option<Vec<Urgency>>,
    /// Only cases that came in one of these ways.
    pub source: Option<Vec<CaseSource>>,
    /// Only cases reported by this volunteer (a Volunteer id).
    pub reporting_volunteer_id: Option<ID>,
    /// Only cases enrolled (now or before) in this programme (a Programme id).
    pub programme_id: Option<ID>,
    /// Only cases referred (at any time) to this organisation (an Organisation id).
    pub referred_to_organisation_id: Option<ID>,
    /// Only the case with this reference number.
    pub reference_number: Option<String>,
}

impl CaseFilter {
    pub fn condition(&self, scoped: &Scoped) -> AppResult<Condition> {
        use entity::enums as db;
        let statuses: Option<Vec<db::CaseStatus>> = self.status.as_deref().map(stored);
        let urgencies: Option<Vec<db::Urgency>> = self.urgency.as_deref().map(stored);
        let sources: Option<Vec<db::CaseSource>> = self.source.as_deref().map(stored);
        let mut condition = any_of(Condition::all(), case::Column::Status, statuses.as_ref());
        condition = any_of(condition, case::Column::Urgency, urgencies.as_ref());
        condition = any_of(condition, case::Column::Source, sources.as_ref());
        condition = any_of(condition, case::Column::KelurahanCode, self.kelurahan_codes.as_ref());
        if let Some(districts) = &self.district_codes {
            condition = condition.add(case::Column::KelurahanCode.in_subquery(district_kelurahan(scoped, districts)));
        }
        if let Some(categories) = &self.categories {
            let categories: Vec<db::PpksCategory> = stored(categories);
            let tagged = scoped.ids::<case_category::Entity>(
                case_category::Column::CaseId,
                Condition::all().add(case_category::Column::Category.is_in(categories)),
            );
            condition = condition.add(case::Column::Id.in_subquery(tagged));
        }
        if let Some(range) = &self.opened {
            condition = range.apply(condition, case::Column::OpenedAt, "filter.opened")?;
        }
        if let Some(range) = &self.closed {
            condition = range.apply(condition, case::Column::ClosedAt, "filter.closed")?;
        }
        if let Some(since) = self.updated_since {
            condition = condition.add(case::Column::UpdatedAt.gte(since));
        }
        // Filters on related rows match only through rows the caller may see: a partner cannot learn
        // which of its cases a volunteer reported, or which were referred to another partner.
        if let Some(id) = &self.reporting_volunteer_id {
            let id = ids::decode_uuid(id, NodeType::Volunteer, "filter.reportingVolunteerId")?;
            let visible = scoped
                .ids::<volunteer::Entity>(volunteer::Column::Id, Condition::all().add(volunteer::Column::Id.eq(id)));
            condition = condition.add(case::Column::ReportingVolunteerId.in_subquery(visible));
        }
        if let Some(id) = &self.programme_id {
            let id = ids::decode_uuid(id, NodeType::Programme, "filter.programmeId")?;
            let enrolled = scoped.ids::<enrollment::Entity>(
                enrollment::Column::CaseId,
                Condition::all().add(enrollment::Column::ProgrammeId.eq(id)),
            );
            condition = condition.add(case::Column::Id.in_subquery(enrolled));
        }
        if let Some(id) = &self.referred_to_organisation_id {
            let id = ids::decode_uuid(id, NodeType::Organisation, "filter.referredToOrganisationId")?;
            let referred = scoped.ids::<referral::Entity>(
                referral::Column::CaseId,
                Condition::all().add(referral::Column::ToOrganisationId.eq(id)),
            );
            condition = condition.add(case::Column::Id.in_subquery(referred));
        }
        if let Some(reference) = &self.reference_number {
            condition = condition.add(case::Column::ReferenceNumber.eq(reference.as_str()));
        }
        Ok(condition)
    }
}

impl Listed for case::Entity {
    type Sort = CaseOrderField;

    fn sort_column(sort: CaseOrderField) -> case::Column {
        match sort {
            CaseOrderField::OpenedAt => case::Column::OpenedAt,
            CaseOrderField::UpdatedAt => case::Column::UpdatedAt,
            CaseOrderField::ReferenceNumber => case::Column::ReferenceNumber,
        }
    }
    fn sort_value(model: &case::Model, sort: CaseOrderField) -> KeyValue {
        match sort {
            CaseOrderField::OpenedAt => KeyValue::Instant(model.opened_at),
            CaseOrderField::UpdatedAt => KeyValue::Instant(model.updated_at),
            CaseOrderField::ReferenceNumber => KeyValue::Text(model.reference_number.clone()),
        }
    }
}

connection_types!(CaseConnection, CaseEdge, Case, "A page of cases.", "A case and its cursor.");

/// No personal inputs: which rows match, and how they sort, reveal no personal data.
impl crate::graphql::guard::PersonalInputs for CaseFilter {}
impl crate::graphql::guard::PersonalInputs for CaseOrder {}

//! Programmes (house rehabilitation, elderly accompaniment, DTSEN proposals, ...) and enrollments.

use async_graphql::{Context, Enum, ID, InputObject, Object};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{case, enrollment, organisation, programme, programme_category};
use sea_orm::{ColumnTrait, Condition};

use crate::error::AppResult;
use crate::graphql::connection::{ChildOf, KeyValue, Listed, Ordering};
use crate::graphql::guard;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::loaders::{self, Children};
use crate::graphql::types::case::Case;
use crate::graphql::types::enums::{EnrollmentStatus, OrderDirection, PpksCategory, ProgrammeKind, stored};
use crate::graphql::types::organisation::Organisation;
use crate::graphql::types::{any_of, connection_types, nested_args, page_args};
use crate::service::policy::Text;
use crate::service::scope::Scoped;

/// A programme run by Dinsos or a partner: house rehabilitation (RTLH), elderly accompaniment,
/// proposals to the national welfare registry (DTSEN), local social assistance, training (Bimtek).
#[derive(Clone)]
pub struct Programme(pub programme::Model);

impl From<programme::Model> for Programme {
    fn from(row: programme::Model) -> Self {
        Programme(row)
    }
}

/// A programme run by Dinsos or a partner: house rehabilitation (RTLH), elderly accompaniment,
/// proposals to the national welfare registry (DTSEN), local social assistance, training (Bimtek).
#[Object]
impl Programme {
    /// Global id of the programme.
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::Programme, self.0.id)
    }

    /// Short unique code, e.g. `RTLH-2025`.
    async fn code(&self) -> &str {
        &self.0.code
    }

    /// Name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What the programme does.
    async fn kind(&self) -> ProgrammeKind {
        self.0.kind.into()
    }

    /// What the programme offers and to whom.
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// The organisation that owns and runs the programme.
    async fn owner_organisation(&self, ctx: &Context<'_>) -> async_graphql::Result<Organisation> {
        Ok(Organisation(loaders::required_row::<organisation::Entity>(ctx, self.0.owner_organisation_id).await?))
    }

    /// First day of the programme period.
    async fn starts_on(&self) -> NaiveDate {
        self.0.starts_on
    }

    /// Last day of the programme period; null when open-ended.
    async fn ends_on(&self) -> Option<NaiveDate> {
        self.0.ends_on
    }

    /// How many people the programme aims to reach.
    async fn target(&self) -> i32 {
        self.0.target
    }

    /// Budget in whole rupiah (IDR). A GraphQL Int holds up to 2,147,483,647, too little for budgets,
    /// so this is a 64-bit number serialised as a JSON number.
    async fn budget_idr(&self) -> i64 {
        self.0.budget_idr
    }

    /// The PPKS categories the programme is open to.
    async fn eligible_categories(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PpksCategory>> {
        let rows = loaders::children::<ProgrammeCategories>(ctx, self.0.id).await?;
        Ok(rows.into_iter().map(|row| row.category.into()).collect())
    }

    /// Cases enrolled in the programme, newest first unless `orderBy` says otherwise.
    #[allow(clippy::too_many_arguments)]
    async fn enrollments(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which enrollments to list.")] filter: Option<EnrollmentFilter>,
        #[graphql(desc = "Order of the list; by default newest enrolled first.")] order_by: Option<EnrollmentOrder>,
        #[graphql(desc = "Page size, reading forward (at most the configured maximum, 100 by default).")] first: Option<
            i32,
        >,
        #[graphql(desc = "Cursor to read forward from (exclusive).")] after: Option<String>,
        #[graphql(desc = "Page size, reading backward.")] last: Option<i32>,
        #[graphql(desc = "Cursor to read backward from (exclusive).")] before: Option<String>,
    ) -> async_graphql::Result<EnrollmentConnection> {
        let filter = filter.unwrap_or_default();
        let nested = nested_args(
            ctx,
            &filter,
            filter.condition(crate::graphql::guard::scoped(ctx)?)?,
            EnrollmentOrder::ordering(order_by),
            page_args(first, after, last, before),
        )?;
        let connection = loaders::nested_page::<ProgrammeEnrollments>(ctx, self.0.id, nested).await?;
        Ok(EnrollmentConnection(connection.map(Enrollment)))
    }

    /// When the programme was recorded.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the programme last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// Bumped by every change to the programme: pass it back to `updateProgramme`, which refuses
    /// (CONFLICT) a write based on an older version.
    async fn version(&self) -> i32 {
        self.0.version
    }
}

/// A case enrolled in a programme.
#[derive(Clone)]
pub struct Enrollment(pub enrollment::Model);

/// A case enrolled in a programme.
#[Object]
impl Enrollment {
    /// Global id of the enrollment.
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::Enrollment, self.0.id)
    }

    /// Where the enrollment stands.
    async fn status(&self) -> EnrollmentStatus {
        self.0.status.into()
    }

    /// When the case was enrolled.
    async fn enrolled_at(&self) -> DateTime<Utc> {
        self.0.enrolled_at
    }

    /// When the case completed or left the programme; null while enrolled.
    async fn exited_at(&self) -> Option<DateTime<Utc>> {
        self.0.exited_at
    }

    /// Why the case left early, when it did: free text, so personal data, readable by whoever may read
    /// the person's personal data; otherwise null with a `FORBIDDEN` error.
    async fn exit_reason(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
        let subject = ("Enrollment", self.0.id, "exitReason");
        Ok(guard::text(ctx, self.0.exit_reason.as_deref(), self.0.case_id, Text::Narrative, subject).await?)
    }

    /// Bumped by every change to the enrollment: pass it back to `recordEnrollmentExit`, which refuses
    /// (CONFLICT) a write based on an older version.
    async fn version(&self) -> i32 {
        self.0.version
    }

    /// The programme.
    async fn programme(&self, ctx: &Context<'_>) -> async_graphql::Result<Programme> {
        Ok(Programme(loaders::required_row::<programme::Entity>(ctx, self.0.programme_id).await?))
    }

    /// The enrolled case.
    async fn case(&self, ctx: &Context<'_>) -> async_graphql::Result<Case> {
        Ok(Case::from(loaders::required_row::<case::Entity>(ctx, self.0.case_id).await?))
    }
}

/// A programme's eligible categories.
pub struct ProgrammeCategories;

impl Children for ProgrammeCategories {
    type Entity = programme_category::Entity;
    type ParentKey = uuid::Uuid;
    fn parent_column() -> programme_category::Column {
        programme_category::Column::ProgrammeId
    }
    fn parent_of(model: &programme_category::Model) -> uuid::Uuid {
        model.programme_id
    }
    fn order_column() -> programme_category::Column {
        programme_category::Column::Category
    }
}

/// A programme's enrollments.
pub struct ProgrammeEnrollments;

impl ChildOf for ProgrammeEnrollments {
    type Entity = enrollment::Entity;
    fn parent_column() -> enrollment::Column {
        enrollment::Column::ProgrammeId
    }
    fn parent_of(model: &enrollment::Model) -> Option<uuid::Uuid> {
        Some(model.programme_id)
    }
}

/// What programmes can be ordered by.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProgrammeOrderField {
    /// Name (the default).
    Name,
    /// First day of the period.
    StartsOn,
    /// Registration instant.
    CreatedAt,
}

/// Order of a programme list.
#[derive(InputObject, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProgrammeOrder {
    /// Column to order by.
    pub field: ProgrammeOrderField,
    /// Direction.
    #[graphql(default)]
    pub direction: OrderDirection,
}

impl ProgrammeOrder {
    pub fn ordering(order: Option<ProgrammeOrder>) -> Ordering<ProgrammeOrderField> {
        let order =
            order.unwrap_or(ProgrammeOrder { field: ProgrammeOrderField::Name, direction: OrderDirection::Asc });
        Ordering { sort: order.field, descending: order.direction == OrderDirection::Desc }
    }
}

/// Which programmes to list. All given conditions must hold.
#[derive(InputObject, Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ProgrammeFilter {
    /// Only these kinds.
    pub kind: Option<Vec<ProgrammeKind>>,
    /// Only programmes owned by one of these organisations (Organisation ids).
    pub owner_organisation_ids: Option<Vec<ID>>,
    /// Only programmes running on this day (started on or before it, not ended before it).
    pub active_on: Option<NaiveDate>,
    /// Only programmes open to at least one of these categories.
    pub categories: Option<Vec<PpksCategory>>,
}

impl ProgrammeFilter {
    pub fn condition(&self, scoped: &Scoped) -> AppResult<Condition> {
        let kinds: Option<Vec<entity::enums::ProgrammeKind>> = self.kind.as_deref().map(stored);
        let mut condition = any_of(Condition::all(), programme::Column::Kind, kinds.as_ref());
        if let Some(owners) = &self.owner_organisation_ids {
            let owners = owners
                .iter()
                .map(|id| ids::decode_uuid(id, NodeType::Organisation, "filter.ownerOrganisationIds"))
                .collect::<AppResult<Vec<_>>>()?;
            condition = condition.add(programme::Column::OwnerOrganisationId.is_in(owners));
        }
        if let Some(day) = self.active_on {
            condition = condition
                .add(programme::Column::StartsOn.lte(day))
                .add(Condition::any().add(programme::Column::EndsOn.is_null()).add(programme::Column::EndsOn.gte(day)));
        }
        if let Some(categories) = &self.categories {
            let categories: Vec<entity::enums::PpksCategory> = stored(categories);
            let open = scoped.ids::<programme_category::Entity>(
                programme_category::Column::ProgrammeId,
                Condition::all().add(programme_category::Column::Category.is_in(categories)),
            );
            condition = condition.add(programme::Column::Id.in_subquery(open));
        }
        Ok(condition)
    }
}

impl Listed for programme::Entity {
    type Sort = ProgrammeOrderField;

    fn sort_column(sort: ProgrammeOrderField) -> programme::Column {
        match sort {
            ProgrammeOrderField::Name => programme::Column::Name,
            ProgrammeOrderField::StartsOn => programme::Column::StartsOn,
            ProgrammeOrderField::CreatedAt => programme::Column::CreatedAt,
        }
    }
    fn sort_value(model: &programme::Model, sort: ProgrammeOrderField) -> KeyValue {
        match sort {
            ProgrammeOrderField::Name => KeyValue::Text(model.name.clone()),
            ProgrammeOrderField::StartsOn => KeyValue::Date(model.starts_on),
            ProgrammeOrderField::CreatedAt => KeyValue::Instant(model.created_at),
        }
    }
}

/// What enrollments can be ordered by.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnrollmentOrderField {
    /// When the case was enrolled (the default, newest first).
    EnrolledAt,
}

/// Order of an enrollment list.
#[derive(InputObject, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnrollmentOrder {
    /// Column to order by.
    pub field: EnrollmentOrderField,
    /// Direction.
    #[graphql(default)]
    pub direction: OrderDirection,
}

impl EnrollmentOrder {
    pub fn ordering(order: Option<EnrollmentOrder>) -> Ordering<EnrollmentOrderField> {
        let order = order
            .unwrap_or(EnrollmentOrder { field: EnrollmentOrderField::EnrolledAt, direction: OrderDirection::Desc });
        Ordering { sort: order.field, descending: order.direction == OrderDirection::Desc }
    }
}

/// Which enrollments to list.
#[derive(InputObject, Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct EnrollmentFilter {
    /// Only enrollments with one of these statuses.
    pub status: Option<Vec<EnrollmentStatus>>,
}

impl EnrollmentFilter {
    pub fn condition(&self, _scoped: &Scoped) -> AppResult<Condition> {
        let statuses: Option<Vec<entity::enums::EnrollmentStatus>> = self.status.as_deref().map(stored);
        Ok(any_of(Condition::all(), enrollment::Column::Status, statuses.as_ref()))
    }
}

impl Listed for enrollment::Entity {
    type Sort = EnrollmentOrderField;

    fn sort_column(sort: EnrollmentOrderField) -> enrollment::Column {
        match sort {
            EnrollmentOrderField::EnrolledAt => enrollment::Column::EnrolledAt,
        }
    }
    fn sort_value(model: &enrollment::Model, sort: EnrollmentOrderField) -> KeyValue {
        match sort {
            EnrollmentOrderField::EnrolledAt => KeyValue::Instant(model.enrolled_at),
        }
    }
}

connection_types!(
    ProgrammeConnection,
    ProgrammeEdge,
    Programme,
    "A page of programmes.",
    "A programme and its cursor."
);
connection_types!(
    EnrollmentConnection,
    EnrollmentEdge,
    Enrollment,
    "A page of enrollments.",
    "An enrollment and its cursor."
);

/// No personal inputs: which rows match, and how they sort, reveal no personal data.
impl crate::graphql::guard::PersonalInputs for ProgrammeFilter {}
impl crate::graphql::guard::PersonalInputs for ProgrammeOrder {}

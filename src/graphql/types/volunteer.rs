//! PSM volunteers, their training (Bimtek) attendance and their awards.

use async_graphql::{Context, Enum, ID, InputObject, Object};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{award, case, organisation, region, training_attendance, volunteer};
use sea_orm::{ColumnTrait, Condition};

use crate::error::AppResult;
use crate::graphql::connection::{ChildOf, KeyValue, Listed, Ordering};
use crate::graphql::guard::{PersonalInputs, reveal_volunteer};
use crate::graphql::ids::{self, NodeType};
use crate::graphql::loaders::{self, Children};
use crate::graphql::types::case::{Case, CaseConnection, CaseFilter, CaseOrder};
use crate::graphql::types::enums::{OrderDirection, PsksType, Sex, VolunteerStatus};
use crate::graphql::types::organisation::Organisation;
use crate::graphql::types::region::{Region, district_kelurahan};
use crate::graphql::types::{DateRange, any_of, city_today, connection_types, nested_args, page_args, whole_years};
use crate::service::policy::Access;
use crate::service::scope::Scoped;

/// A PSM volunteer (Pekerja Sosial Masyarakat: a community social worker) or another PSKS worker,
/// who finds social cases in their neighbourhood and follows them with Dinsos.
#[derive(Clone)]
pub struct Volunteer(pub volunteer::Model);

impl From<volunteer::Model> for Volunteer {
    fn from(row: volunteer::Model) -> Self {
        Volunteer(row)
    }
}

/// A PSM volunteer (Pekerja Sosial Masyarakat: a community social worker) or another PSKS worker,
/// who finds social cases in their neighbourhood and follows them with Dinsos.
#[Object]
impl Volunteer {
    /// Global id of the volunteer.
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::Volunteer, self.0.id)
    }

    /// Full name (personal data: STAFF and the volunteer themself; null with a `FORBIDDEN` error for
    /// anyone else).
    async fn full_name(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
        reveal_volunteer(ctx, &self.0, "fullName")?;
        Ok(Some(&self.0.full_name))
    }

    /// Mobile phone number (personal data: STAFF and the volunteer themself).
    async fn phone(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
        reveal_volunteer(ctx, &self.0, "phone")?;
        Ok(self.0.phone.as_deref())
    }

    /// Gender.
    async fn gender(&self) -> Sex {
        self.0.gender.into()
    }

    /// Year of birth (the exact date is not kept for volunteers).
    async fn birth_year(&self) -> i32 {
        self.0.birth_year
    }

    /// Which of the 12 PSKS kinds this worker is; almost always a PSM.
    async fn psks_type(&self) -> PsksType {
        self.0.psks_type.into()
    }

    /// Whether the volunteer serves now.
    async fn status(&self) -> VolunteerStatus {
        self.0.status.into()
    }

    /// The day the volunteer started serving.
    async fn served_since(&self) -> NaiveDate {
        self.0.served_since
    }

    /// Whole years served since `servedSince`, as of today in Banjarmasin (some PSM have served 30).
    async fn tenure_years(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        Ok(whole_years(self.0.served_since, city_today(ctx)?))
    }

    /// The kelurahan the volunteer lives in.
    async fn home_kelurahan(&self, ctx: &Context<'_>) -> async_graphql::Result<Region> {
        Ok(Region(loaders::required_row::<region::Entity>(ctx, self.0.home_kelurahan_code.clone()).await?))
    }

    /// The kelurahan the volunteer covers.
    async fn kelurahan(&self, ctx: &Context<'_>) -> async_graphql::Result<Region> {
        Ok(Region(loaders::required_row::<region::Entity>(ctx, self.0.kelurahan_code.clone()).await?))
    }

    /// Trainings (Bimtek) the volunteer attended, oldest first.
    async fn training_attendances(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TrainingAttendance>> {
        let rows = loaders::children::<VolunteerTrainings>(ctx, self.0.id).await?;
        Ok(rows.into_iter().map(TrainingAttendance).collect())
    }

    /// Awards the volunteer received, oldest first.
    async fn awards(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Award>> {
        Ok(loaders::children::<VolunteerAwards>(ctx, self.0.id).await?.into_iter().map(Award).collect())
    }

    /// Cases this volunteer reported, newest first unless `orderBy` says otherwise.
    #[allow(clippy::too_many_arguments)]
    async fn cases(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which of the volunteer's cases to list.")] filter: Option<CaseFilter>,
        #[graphql(desc = "Order of the list; by default newest opened first.")] order_by: Option<CaseOrder>,
        #[graphql(desc = "Page size, reading forward (at most the configured maximum, 100 by default).")] first: Option<
            i32,
        >,
        #[graphql(desc = "Cursor to read forward from (exclusive).")] after: Option<String>,
        #[graphql(desc = "Page size, reading backward.")] last: Option<i32>,
        #[graphql(desc = "Cursor to read backward from (exclusive).")] before: Option<String>,
    ) -> async_graphql::Result<CaseConnection> {
        let filter = filter.unwrap_or_default();
        let nested = nested_args(
            ctx,
            &filter,
            filter.condition(crate::graphql::guard::scoped(ctx)?)?,
            CaseOrder::ordering(order_by),
            page_args(first, after, last, before),
        )?;
        let connection = loaders::nested_page::<ReportedCases>(ctx, self.0.id, nested).await?;
        Ok(CaseConnection(connection.map(Case::from)))
    }

    /// When the volunteer was registered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the volunteer's record last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// Bumped by every change to the volunteer's record: pass it back to `updateVolunteer` or
    /// `deactivateVolunteer`, which refuse (CONFLICT) a write based on an older version.
    async fn version(&self) -> i32 {
        self.0.version
    }
}

/// A volunteer's attendance at a training (Bimtek, bimbingan teknis).
#[derive(Clone)]
pub struct TrainingAttendance(pub training_attendance::Model);

/// A volunteer's attendance at a training (Bimtek, bimbingan teknis).
#[Object]
impl TrainingAttendance {
    /// Global id of the attendance record.
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::TrainingAttendance, self.0.id)
    }

    /// The course, e.g. "Bimtek PSM 2025".
    async fn course(&self) -> &str {
        &self.0.course
    }

    /// The day attended.
    async fn attended_on(&self) -> NaiveDate {
        self.0.attended_on
    }

    /// Training hours.
    async fn hours(&self) -> i32 {
        self.0.hours
    }

    /// The organisation that ran the training, when recorded.
    async fn organiser(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Organisation>> {
        match self.0.organiser_id {
            Some(id) => Ok(loaders::row::<organisation::Entity>(ctx, id).await?.map(Organisation)),
            None => Ok(None),
        }
    }

    /// The volunteer who attended.
    async fn volunteer(&self, ctx: &Context<'_>) -> async_graphql::Result<Volunteer> {
        Ok(Volunteer(loaders::required_row::<volunteer::Entity>(ctx, self.0.volunteer_id).await?))
    }
}

/// An award given to a volunteer.
#[derive(Clone)]
pub struct Award(pub award::Model);

/// An award given to a volunteer.
#[Object]
impl Award {
    /// Global id of the award.
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::Award, self.0.id)
    }

    /// Title of the award.
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// The day it was given.
    async fn awarded_on(&self) -> NaiveDate {
        self.0.awarded_on
    }

    /// Who gave it, e.g. "Wali Kota Banjarmasin".
    async fn awarded_by(&self) -> &str {
        &self.0.awarded_by
    }

    /// The volunteer who received it.
    async fn volunteer(&self, ctx: &Context<'_>) -> async_graphql::Result<Volunteer> {
        Ok(Volunteer(loaders::required_row::<volunteer::Entity>(ctx, self.0.volunteer_id).await?))
    }
}

/// A volunteer's training attendance.
pub struct VolunteerTrainings;

impl Children for VolunteerTrainings {
    type Entity = training_attendance::Entity;
    type ParentKey = uuid::Uuid;
    fn parent_column() -> training_attendance::Column {
        training_attendance::Column::VolunteerId
    }
    fn parent_of(model: &training_attendance::Model) -> uuid::Uuid {
        model.volunteer_id
    }
    fn order_column() -> training_attendance::Column {
        training_attendance::Column::AttendedOn
    }
}

/// A volunteer's awards.
pub struct VolunteerAwards;

impl Children for VolunteerAwards {
    type Entity = award::Entity;
    type ParentKey = uuid::Uuid;
    fn parent_column() -> award::Column {
        award::Column::VolunteerId
    }
    fn parent_of(model: &award::Model) -> uuid::Uuid {
        model.volunteer_id
    }
    fn order_column() -> award::Column {
        award::Column::AwardedOn
    }
}

/// The cases a volunteer reported.
pub struct ReportedCases;

impl ChildOf for ReportedCases {
    type Entity = case::Entity;
    fn parent_column() -> case::Column {
        case::Column::ReportingVolunteerId
    }
    fn parent_of(model: &case::Model) -> Option<uuid::Uuid> {
        model.reporting_volunteer_id
    }
}

/// What volunteers can be ordered by.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VolunteerOrderField {
    /// Full name. Personal data: only STAFF and VOLUNTEER keys may order by it.
    FullName,
    /// The day they started serving (ascending: longest-serving first).
    ServedSince,
    /// Registration instant (the default).
    CreatedAt,
}

/// Order of a volunteer list.
#[derive(InputObject, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VolunteerOrder {
    /// Column to order by.
    pub field: VolunteerOrderField,
    /// Direction.
    #[graphql(default)]
    pub direction: OrderDirection,
}

impl VolunteerOrder {
    pub fn ordering(order: Option<VolunteerOrder>) -> Ordering<VolunteerOrderField> {
        let order =
            order.unwrap_or(VolunteerOrder { field: VolunteerOrderField::CreatedAt, direction: OrderDirection::Asc });
        Ordering { sort: order.field, descending: order.direction == OrderDirection::Desc }
    }
}

/// Which volunteers to list. All given conditions must hold.
#[derive(InputObject, Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct VolunteerFilter {
    /// Only volunteers with one of these statuses.
    pub status: Option<Vec<VolunteerStatus>>,
    /// Only these PSKS kinds.
    pub psks_type: Option<Vec<PsksType>>,
    /// Only volunteers covering one of these kelurahan (codes like `63.71.01.1001`).
    pub kelurahan_codes: Option<Vec<String>>,
    /// Only volunteers covering a kelurahan of one of these kecamatan (codes like `63.71.01`).
    pub district_codes: Option<Vec<String>>,
    /// True: only volunteers who attended at least one training; false: only those who never did.
    pub trained: Option<bool>,
    /// Only volunteers who attended a training on or after this day.
    pub trained_since: Option<NaiveDate>,
    /// Only volunteers whose service started within this range, e.g. `{to: "2000-12-31"}` for those
    /// serving since the last century.
    pub served_since: Option<DateRange>,
    /// Only this gender.
    pub gender: Option<Sex>,
}

impl VolunteerFilter {
    pub fn condition(&self, scoped: &Scoped) -> AppResult<Condition> {
        use entity::enums as db;
        let statuses: Option<Vec<db::VolunteerStatus>> = self.status.as_ref().map(|s| super::enums::stored(s));
        let kinds: Option<Vec<db::PsksType>> = self.psks_type.as_ref().map(|s| super::enums::stored(s));
        let mut condition = any_of(Condition::all(), volunteer::Column::Status, statuses.as_ref());
        condition = any_of(condition, volunteer::Column::PsksType, kinds.as_ref());
        condition = any_of(condition, volunteer::Column::KelurahanCode, self.kelurahan_codes.as_ref());
        if let Some(districts) = &self.district_codes {
            condition =
                condition.add(volunteer::Column::KelurahanCode.in_subquery(district_kelurahan(scoped, districts)));
        }
        if let Some(trained) = self.trained {
            let attended =
                scoped.ids::<training_attendance::Entity>(training_attendance::Column::VolunteerId, Condition::all());
            condition = condition.add(if trained {
                volunteer::Column::Id.in_subquery(attended)
            } else {
                volunteer::Column::Id.not_in_subquery(attended)
            });
        }
        if let Some(since) = self.trained_since {
            let attended = scoped.ids::<training_attendance::Entity>(
                training_attendance::Column::VolunteerId,
                Condition::all().add(training_attendance::Column::AttendedOn.gte(since)),
            );
            condition = condition.add(volunteer::Column::Id.in_subquery(attended));
        }
        if let Some(range) = &self.served_since {
            condition = range.apply(condition, volunteer::Column::ServedSince, "servedSince")?;
        }
        if let Some(gender) = self.gender {
            condition = condition.add(volunteer::Column::Gender.eq(entity::enums::Sex::from(gender)));
        }
        Ok(condition)
    }
}

impl Listed for volunteer::Entity {
    type Sort = VolunteerOrderField;

    fn sort_column(sort: VolunteerOrderField) -> volunteer::Column {
        match sort {
            VolunteerOrderField::FullName => volunteer::Column::FullName,
            VolunteerOrderField::ServedSince => volunteer::Column::ServedSince,
            VolunteerOrderField::CreatedAt => volunteer::Column::CreatedAt,
        }
    }
    fn sort_value(model: &volunteer::Model, sort: VolunteerOrderField) -> KeyValue {
        match sort {
            VolunteerOrderField::FullName => KeyValue::Text(model.full_name.clone()),
            VolunteerOrderField::ServedSince => KeyValue::Date(model.served_since),
            VolunteerOrderField::CreatedAt => KeyValue::Instant(model.created_at),
        }
    }
}

connection_types!(
    VolunteerConnection,
    VolunteerEdge,
    Volunteer,
    "A page of volunteers.",
    "A volunteer and its cursor."
);

impl PersonalInputs for VolunteerFilter {}

impl PersonalInputs for VolunteerOrder {
    fn personal_inputs(&self) -> Vec<(&'static str, Access)> {
        match self.field {
            VolunteerOrderField::FullName => vec![("orderBy.field", Access::Masked)],
            VolunteerOrderField::ServedSince | VolunteerOrderField::CreatedAt => Vec::new(),
        }
    }
}

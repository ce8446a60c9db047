//! Persons (the citizens cases are about) and their consents.

use async_graphql::{Context, Enum, ID, InputObject, Object};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{case, consent, organisation, person, region};
use sea_orm::{ColumnTrait, Condition};

use crate::error::{AppError, AppResult};
use crate::graphql::connection::{KeyValue, Listed, Ordering};
use crate::graphql::guard::{PersonalInputs, reveal_person};
use crate::graphql::ids::{self, NodeType};
use crate::graphql::loaders::{self, Children};
use crate::graphql::types::case::Case;
use crate::graphql::types::enums::{ConsentGiver, ConsentScope, OrderDirection, Sex};
use crate::graphql::types::organisation::Organisation;
use crate::graphql::types::region::{Region, district_kelurahan};
use crate::graphql::types::{DateRange, any_of, city_today, connection_types, whole_years};
use crate::service::policy::Access;
use crate::service::scope::Scoped;

/// A citizen a case is about. Name, NIK, phone, address and exact birth date are personal data under
/// UU PDP 27/2022; dashboards should use `ageBand`, `sex` and `kelurahan` instead.
#[derive(Clone)]
pub struct Person(pub person::Model);

impl From<person::Model> for Person {
    fn from(row: person::Model) -> Self {
        Person(row)
    }
}

/// An age band, for dashboards that must not show exact birth dates.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgeBand {
    /// 0 to 4 years (balita).
    Age0To4,
    /// 5 to 17 years: a child under Indonesian law.
    Age5To17,
    /// 18 to 44 years.
    Age18To44,
    /// 45 to 59 years.
    Age45To59,
    /// 60 to 74 years: elderly (lansia) from 60.
    Age60To74,
    /// 75 years and over.
    Age75Plus,
}

impl AgeBand {
    /// The band of a person of `age` whole years.
    pub fn of(age: i32) -> AgeBand {
        match age {
            ..=4 => AgeBand::Age0To4,
            5..=17 => AgeBand::Age5To17,
            18..=44 => AgeBand::Age18To44,
            45..=59 => AgeBand::Age45To59,
            60..=74 => AgeBand::Age60To74,
            _ => AgeBand::Age75Plus,
        }
    }
}

/// Masks a NIK to its region prefix and last two digits: `637101**********12`.
pub fn mask_nik(nik: &str) -> String {
    nik.char_indices().map(|(i, c)| if i < 6 || i + 2 >= nik.len() { c } else { '*' }).collect()
}

/// A citizen a case is about. Name, NIK, phone, address and exact birth date are personal data under
/// UU PDP 27/2022; dashboards should use `ageBand`, `sex` and `kelurahan` instead.
#[Object]
impl Person {
    /// Global id of the person.
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::Person, self.0.id)
    }

    /// Full name (personal data: null with a `FORBIDDEN` error for callers who may not read it).
    async fn full_name(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
        reveal_person(ctx, &self.0, "fullName", Access::Masked).await?;
        Ok(Some(&self.0.full_name))
    }

    /// The NIK (national id number) with all but its region prefix and last two digits hidden, e.g.
    /// `637101**********12`. Null when the person has no NIK on record. Personal data: STAFF, the
    /// reporting volunteer, and partners the person consented to share with may read it.
    async fn nik_masked(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        reveal_person(ctx, &self.0, "nikMasked", Access::Masked).await?;
        Ok(self.0.nik.as_deref().map(mask_nik))
    }

    /// The full 16-digit NIK, for matching and correcting records. Only STAFF keys may read it; every
    /// other caller gets null with a `FORBIDDEN` error (use `nikMasked`).
    async fn nik(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
        reveal_person(ctx, &self.0, "nik", Access::Full).await?;
        Ok(self.0.nik.as_deref())
    }

    /// Exact birth date (personal data; dashboards should use `ageBand`).
    async fn birth_date(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<NaiveDate>> {
        reveal_person(ctx, &self.0, "birthDate", Access::Masked).await?;
        Ok(Some(self.0.birth_date))
    }

    /// Age band today in Banjarmasin.
    async fn age_band(&self, ctx: &Context<'_>) -> async_graphql::Result<AgeBand> {
        Ok(AgeBand::of(whole_years(self.0.birth_date, city_today(ctx)?)))
    }

    /// Sex.
    async fn sex(&self) -> Sex {
        self.0.sex.into()
    }

    /// Whether the person has a disability.
    async fn has_disability(&self) -> bool {
        self.0.disability.is_some()
    }

    /// Description of the disability, when the person has one (health data: specific personal data).
    async fn disability(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
        reveal_person(ctx, &self.0, "disability", Access::Masked).await?;
        Ok(self.0.disability.as_deref())
    }

    /// Street address (personal data).
    async fn address(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
        reveal_person(ctx, &self.0, "address", Access::Masked).await?;
        Ok(Some(&self.0.address))
    }

    /// Phone number (personal data).
    async fn phone(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
        reveal_person(ctx, &self.0, "phone", Access::Masked).await?;
        Ok(self.0.phone.as_deref())
    }

    /// The kelurahan the person lives in.
    async fn kelurahan(&self, ctx: &Context<'_>) -> async_graphql::Result<Region> {
        Ok(Region(loaders::required_row::<region::Entity>(ctx, self.0.kelurahan_code.clone()).await?))
    }

    /// Consents the person (or their guardian) gave, oldest first, including expired and revoked ones.
    async fn consents(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Consent>> {
        Ok(loaders::children::<PersonConsents>(ctx, self.0.id).await?.into_iter().map(Consent).collect())
    }

    /// Cases about this person, oldest first.
    async fn cases(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Case>> {
        Ok(loaders::children::<PersonCases>(ctx, self.0.id).await?.into_iter().map(Case::from).collect())
    }

    /// When the person was registered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the person's record last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A consent given by a person or their guardian: what it allows (scope), with whom (one partner or
/// all), until when, and whether it was revoked.
#[derive(Clone)]
pub struct Consent(pub consent::Model);

/// A consent given by a person or their guardian: what it allows (scope), with whom (one partner or
/// all), until when, and whether it was revoked.
#[Object]
impl Consent {
    /// Global id of the consent.
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::Consent, self.0.id)
    }

    /// What the consent allows.
    async fn scope(&self) -> ConsentScope {
        self.0.scope.into()
    }

    /// The one partner organisation this consent covers; null when it covers every partner.
    async fn partner_organisation(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Organisation>> {
        match self.0.partner_organisation_id {
            Some(id) => Ok(loaders::row::<organisation::Entity>(ctx, id).await?.map(Organisation)),
            None => Ok(None),
        }
    }

    /// Who gave it: the person or a guardian.
    async fn given_by(&self) -> ConsentGiver {
        self.0.given_by.into()
    }

    /// When it was given.
    async fn given_at(&self) -> DateTime<Utc> {
        self.0.given_at
    }

    /// When it lapses; null when it does not.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }

    /// When it was revoked; null while it stands.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }

    /// True when the consent is in force now: given, not revoked and not expired.
    async fn active(&self) -> bool {
        let now = Utc::now();
        self.0.revoked_at.is_none() && self.0.expires_at.is_none_or(|expiry| expiry > now) && self.0.given_at <= now
    }

    /// The person it belongs to.
    async fn person(&self, ctx: &Context<'_>) -> async_graphql::Result<Person> {
        Ok(Person(loaders::required_row::<person::Entity>(ctx, self.0.person_id).await?))
    }
}

/// A person's consents.
pub struct PersonConsents;

impl Children for PersonConsents {
    type Entity = consent::Entity;
    type ParentKey = uuid::Uuid;
    fn parent_column() -> consent::Column {
        consent::Column::PersonId
    }
    fn parent_of(model: &consent::Model) -> uuid::Uuid {
        model.person_id
    }
    fn order_column() -> consent::Column {
        consent::Column::GivenAt
    }
}

/// The cases about a person.
pub struct PersonCases;

impl Children for PersonCases {
    type Entity = case::Entity;
    type ParentKey = uuid::Uuid;
    fn parent_column() -> case::Column {
        case::Column::PersonId
    }
    fn parent_of(model: &case::Model) -> uuid::Uuid {
        model.person_id
    }
    fn order_column() -> case::Column {
        case::Column::OpenedAt
    }
}

/// What persons can be ordered by.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PersonOrderField {
    /// Full name. Personal data: only STAFF and VOLUNTEER keys may order by it.
    FullName,
    /// Birth date (ascending: oldest first). Personal data: only STAFF and VOLUNTEER keys may order by it.
    BirthDate,
    /// Registration instant (the default).
    CreatedAt,
}

/// Order of a person list.
#[derive(InputObject, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PersonOrder {
    /// Column to order by.
    pub field: PersonOrderField,
    /// Direction.
    #[graphql(default)]
    pub direction: OrderDirection,
}

impl PersonOrder {
    pub fn ordering(order: Option<PersonOrder>) -> Ordering<PersonOrderField> {
        let order = order.unwrap_or(PersonOrder { field: PersonOrderField::CreatedAt, direction: OrderDirection::Asc });
        Ordering { sort: order.field, descending: order.direction == OrderDirection::Desc }
    }
}

/// Which persons to list. All given conditions must hold.
#[derive(InputObject, Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PersonFilter {
    /// Only persons living in one of these kelurahan.
    pub kelurahan_codes: Option<Vec<String>>,
    /// Only persons living in a kelurahan of one of these kecamatan.
    pub district_codes: Option<Vec<String>>,
    /// Only this sex.
    pub sex: Option<Sex>,
    /// Only persons born within this range (personal data: STAFF and VOLUNTEER keys only).
    pub birth_date: Option<DateRange>,
    /// True: only persons with a disability; false: only those without.
    pub has_disability: Option<bool>,
    /// Only the person with exactly this 16-digit NIK, to check for duplicates before registering
    /// (STAFF keys only: anyone else could learn whether a NIK belongs to a social case).
    pub nik: Option<String>,
}

impl PersonFilter {
    pub fn condition(&self, scoped: &Scoped) -> AppResult<Condition> {
        let mut condition = any_of(Condition::all(), person::Column::KelurahanCode, self.kelurahan_codes.as_ref());
        if let Some(districts) = &self.district_codes {
            condition = condition.add(person::Column::KelurahanCode.in_subquery(district_kelurahan(scoped, districts)));
        }
        if let Some(sex) = self.sex {
            condition = condition.add(person::Column::Sex.eq(entity::enums::Sex::from(sex)));
        }
        if let Some(range) = &self.birth_date {
            condition = range.apply(condition, person::Column::BirthDate, "birthDate")?;
        }
        if let Some(has) = self.has_disability {
            condition = condition.add(if has {
                person::Column::Disability.is_not_null()
            } else {
                person::Column::Disability.is_null()
            });
        }
        if let Some(nik) = &self.nik {
            if nik.len() != 16 || !nik.bytes().all(|b| b.is_ascii_digit()) {
                return Err(AppError::bad_input("filter.nik", "a NIK is exactly 16 digits"));
            }
            condition = condition.add(person::Column::Nik.eq(nik.as_str()));
        }
        Ok(condition)
    }
}

impl Listed for person::Entity {
    type Sort = PersonOrderField;

    fn sort_column(sort: PersonOrderField) -> person::Column {
        match sort {
            PersonOrderField::FullName => person::Column::FullName,
            PersonOrderField::BirthDate => person::Column::BirthDate,
            PersonOrderField::CreatedAt => person::Column::CreatedAt,
        }
    }
    fn sort_value(model: &person::Model, sort: PersonOrderField) -> KeyValue {
        match sort {
            PersonOrderField::FullName => KeyValue::Text(model.full_name.clone()),
            PersonOrderField::BirthDate => KeyValue::Date(model.birth_date),
            PersonOrderField::CreatedAt => KeyValue::Instant(model.created_at),
        }
    }
}

connection_types!(PersonConnection, PersonEdge, Person, "A page of persons.", "A person and its cursor.");

impl PersonalInputs for PersonFilter {
    fn personal_inputs(&self) -> Vec<(&'static str, Access)> {
        let mut inputs = Vec::new();
        if self.nik.is_some() {
            inputs.push(("filter.nik", Access::Full));
        }
        if self.birth_date.is_some() {
            inputs.push(("filter.birthDate", Access::Masked));
        }
        inputs
    }
}

impl PersonalInputs for PersonOrder {
    fn personal_inputs(&self) -> Vec<(&'static str, Access)> {
        match self.field {
            PersonOrderField::FullName | PersonOrderField::BirthDate => vec![("orderBy.field", Access::Masked)],
            PersonOrderField::CreatedAt => Vec::new(),
        }
    }
}

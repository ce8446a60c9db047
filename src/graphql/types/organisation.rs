//! Organisations: Dinsos, partner NGOs, LKS, Puskesmas, kelurahan offices.

use async_graphql::{Context, Enum, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use entity::{organisation, region};
use sea_orm::Condition;

use crate::error::AppResult;
use crate::graphql::connection::{KeyValue, Listed, Ordering};
use crate::graphql::ids::{self, NodeType};
use crate::graphql::loaders;
use crate::graphql::types::enums::{OrderDirection, OrganisationKind};
use crate::graphql::types::referral::{ReceivedReferrals, Referral, ReferralConnection, ReferralFilter, ReferralOrder};
use crate::graphql::types::region::Region;
use crate::graphql::types::{any_of, connection_types, nested_args, page_args};
use crate::service::scope::Scoped;

/// An organisation taking part in the programme: the city social service (Dinsos), a partner NGO, an
/// LKS, a Puskesmas, a kelurahan office.
#[derive(Clone)]
pub struct Organisation(pub organisation::Model);

impl From<organisation::Model> for Organisation {
    fn from(row: organisation::Model) -> Self {
        Organisation(row)
    }
}

/// An organisation taking part in the programme: the city social service (Dinsos), a partner NGO, an
/// LKS, a Puskesmas, a kelurahan office.
#[Object]
impl Organisation {
    /// Global id of the organisation.
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::Organisation, self.0.id)
    }

    /// Short unique code, e.g. `DINSOS-BJM`.
    async fn code(&self) -> &str {
        &self.0.code
    }

    /// Full name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What kind of organisation it is.
    async fn kind(&self) -> OrganisationKind {
        self.0.kind.into()
    }

    /// The kelurahan where the organisation sits, when it has one address in the city.
    async fn kelurahan(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Region>> {
        match &self.0.kelurahan_code {
            Some(code) => Ok(loaders::row::<region::Entity>(ctx, code.clone()).await?.map(Region)),
            None => Ok(None),
        }
    }

    /// Referrals addressed to this organisation, newest first unless `orderBy` says otherwise.
    #[allow(clippy::too_many_arguments)]
    async fn referrals_received(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which referrals to list.")] filter: Option<ReferralFilter>,
        #[graphql(desc = "Order of the list; by default newest sent first.")] order_by: Option<ReferralOrder>,
        #[graphql(desc = "Page size, reading forward (at most the configured maximum, 100 by default).")] first: Option<
            i32,
        >,
        #[graphql(desc = "Cursor to read forward from (exclusive).")] after: Option<String>,
        #[graphql(desc = "Page size, reading backward.")] last: Option<i32>,
        #[graphql(desc = "Cursor to read backward from (exclusive).")] before: Option<String>,
    ) -> async_graphql::Result<ReferralConnection> {
        let filter = filter.unwrap_or_default();
        let nested = nested_args(
            ctx,
            &filter,
            filter.condition(crate::graphql::guard::scoped(ctx)?)?,
            ReferralOrder::ordering(order_by),
            page_args(first, after, last, before),
        )?;
        let connection = loaders::nested_page::<ReceivedReferrals>(ctx, self.0.id, nested).await?;
        Ok(ReferralConnection(connection.map(Referral::from)))
    }

    /// When the organisation was registered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the organisation's record last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// What organisations can be ordered by.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrganisationOrderField {
    /// Name (the default).
    Name,
    /// Short code.
    Code,
    /// Registration instant.
    CreatedAt,
}

/// Order of an organisation list.
#[derive(InputObject, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrganisationOrder {
    /// Column to order by.
    pub field: OrganisationOrderField,
    /// Direction.
    #[graphql(default)]
    pub direction: OrderDirection,
}

impl OrganisationOrder {
    pub fn ordering(order: Option<OrganisationOrder>) -> Ordering<OrganisationOrderField> {
        let order =
            order.unwrap_or(OrganisationOrder { field: OrganisationOrderField::Name, direction: OrderDirection::Asc });
        Ordering { sort: order.field, descending: order.direction == OrderDirection::Desc }
    }
}

/// Which organisations to list.
#[derive(InputObject, Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct OrganisationFilter {
    /// Only these kinds.
    pub kind: Option<Vec<OrganisationKind>>,
    /// Only these short codes.
    pub codes: Option<Vec<String>>,
}

impl OrganisationFilter {
    pub fn condition(&self, _scoped: &Scoped) -> AppResult<Condition> {
        let kinds: Option<Vec<entity::enums::OrganisationKind>> = self.kind.as_ref().map(|k| super::enums::stored(k));
        let condition = any_of(Condition::all(), organisation::Column::Kind, kinds.as_ref());
        Ok(any_of(condition, organisation::Column::Code, self.codes.as_ref()))
    }
}

impl Listed for organisation::Entity {
    type Sort = OrganisationOrderField;

    fn sort_column(sort: OrganisationOrderField) -> organisation::Column {
        match sort {
            OrganisationOrderField::Name => organisation::Column::Name,
            OrganisationOrderField::Code => organisation::Column::Code,
            OrganisationOrderField::CreatedAt => organisation::Column::CreatedAt,
        }
    }
    fn sort_value(model: &organisation::Model, sort: OrganisationOrderField) -> KeyValue {
        match sort {
            OrganisationOrderField::Name => KeyValue::Text(model.name.clone()),
            OrganisationOrderField::Code => KeyValue::Text(model.code.clone()),
            OrganisationOrderField::CreatedAt => KeyValue::Instant(model.created_at),
        }
    }
}

connection_types!(
    OrganisationConnection,
    OrganisationEdge,
    Organisation,
    "A page of organisations.",
    "An organisation and its cursor."
);

/// No personal inputs: which rows match, and how they sort, reveal no personal data.
impl crate::graphql::guard::PersonalInputs for OrganisationFilter {}
impl crate::graphql::guard::PersonalInputs for OrganisationOrder {}

//! Regions: the Kemendagri hierarchy of Kota Banjarmasin (kecamatan = district, kelurahan = urban village).

use async_graphql::{Context, Enum, ID, InputObject, Object};
use entity::region;
use sea_orm::{ColumnTrait, Condition};

use crate::error::AppResult;
use crate::graphql::connection::{KeyValue, Listed, Ordering};
use crate::graphql::ids::{self, NodeType};
use crate::graphql::loaders::{self, Children};
use crate::graphql::types::enums::{OrderDirection, RegionLevel};
use crate::graphql::types::{any_of, connection_types};
use crate::service::scope::Scoped;

/// A region of the Kemendagri hierarchy: the province, the city, one of its 5 kecamatan (districts) or
/// one of its 52 kelurahan (urban villages). Codes are official and not alphabetical: 63.71.01 is
/// Banjarmasin Selatan.
#[derive(Clone)]
pub struct Region(pub region::Model);

/// A region of the Kemendagri hierarchy: the province, the city, one of its 5 kecamatan (districts) or
/// one of its 52 kelurahan (urban villages). Codes are official and not alphabetical: 63.71.01 is
/// Banjarmasin Selatan.
#[Object]
impl Region {
    /// Global id of the region (opaque; use `code` for the official code).
    pub async fn id(&self) -> ID {
        ids::encode_key(NodeType::Region, &self.0.code)
    }

    /// Official Kemendagri code, e.g. `63.71.01` (a kecamatan) or `63.71.01.1001` (a kelurahan).
    async fn code(&self) -> &str {
        &self.0.code
    }

    /// Official name, e.g. "Banjarmasin Selatan" or "Mantuil".
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Level in the hierarchy.
    async fn level(&self) -> RegionLevel {
        self.0.level.into()
    }

    /// The region this one belongs to (a kelurahan's kecamatan); null for the province.
    async fn parent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Region>> {
        match &self.0.parent_code {
            Some(code) => Ok(loaders::row::<region::Entity>(ctx, code.clone()).await?.map(Region)),
            None => Ok(None),
        }
    }

    /// The regions directly below this one (a kecamatan's kelurahan), by code.
    async fn children(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Region>> {
        Ok(loaders::children::<RegionChildren>(ctx, self.0.code.clone()).await?.into_iter().map(Region).collect())
    }
}

/// The regions directly below a region.
pub struct RegionChildren;

impl Children for RegionChildren {
    type Entity = region::Entity;
    type ParentKey = String;
    fn parent_column() -> region::Column {
        region::Column::ParentCode
    }
    fn parent_of(model: &region::Model) -> String {
        model.parent_code.clone().unwrap_or_default()
    }
    fn order_column() -> region::Column {
        region::Column::Code
    }
}

/// What regions can be ordered by.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegionOrderField {
    /// Official code (the default).
    Code,
    /// Name.
    Name,
}

/// Order of a region list.
#[derive(InputObject, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RegionOrder {
    /// Column to order by.
    pub field: RegionOrderField,
    /// Direction.
    #[graphql(default)]
    pub direction: OrderDirection,
}

impl RegionOrder {
    pub fn ordering(order: Option<RegionOrder>) -> Ordering<RegionOrderField> {
        let order = order.unwrap_or(RegionOrder { field: RegionOrderField::Code, direction: OrderDirection::Asc });
        Ordering { sort: order.field, descending: order.direction == OrderDirection::Desc }
    }
}

/// Which regions to list.
#[derive(InputObject, Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RegionFilter {
    /// Only regions at these levels, e.g. `[DISTRICT]` for the 5 kecamatan.
    pub level: Option<Vec<RegionLevel>>,
    /// Only regions directly below one of these codes, e.g. `["63.71.01"]` for its kelurahan.
    pub parent_codes: Option<Vec<String>>,
}

impl RegionFilter {
    pub fn condition(&self, _scoped: &Scoped) -> AppResult<Condition> {
        let levels: Option<Vec<entity::enums::RegionLevel>> = self.level.as_ref().map(|l| super::enums::stored(l));
        let condition = any_of(Condition::all(), region::Column::Level, levels.as_ref());
        Ok(any_of(condition, region::Column::ParentCode, self.parent_codes.as_ref()))
    }
}

impl Listed for region::Entity {
    type Sort = RegionOrderField;

    fn sort_column(sort: RegionOrderField) -> region::Column {
        match sort {
            RegionOrderField::Code => region::Column::Code,
            RegionOrderField::Name => region::Column::Name,
        }
    }
    fn sort_value(model: &region::Model, sort: RegionOrderField) -> KeyValue {
        match sort {
            RegionOrderField::Code => KeyValue::Text(model.code.clone()),
            RegionOrderField::Name => KeyValue::Text(model.name.clone()),
        }
    }
}

connection_types!(RegionConnection, RegionEdge, Region, "A page of regions.", "A region and its cursor.");

/// The ids of cases in any of `kelurahan_codes` and in a kelurahan of any of `district_codes`, for the
/// filters of rows that belong to a case; `None` when neither is given.
pub fn cases_in(
    scoped: &Scoped,
    kelurahan_codes: Option<&[String]>,
    district_codes: Option<&[String]>,
) -> Option<sea_orm::sea_query::SelectStatement> {
    use entity::case;
    use sea_orm::ColumnTrait;
    if kelurahan_codes.is_none() && district_codes.is_none() {
        return None;
    }
    let mut condition = Condition::all();
    if let Some(codes) = kelurahan_codes {
        condition = condition.add(case::Column::KelurahanCode.is_in(codes.iter().cloned()));
    }
    if let Some(districts) = district_codes {
        condition = condition.add(case::Column::KelurahanCode.in_subquery(district_kelurahan(scoped, districts)));
    }
    Some(scoped.ids::<case::Entity>(case::Column::Id, condition))
}

/// The codes of the kelurahan of the given kecamatan, for filters; unknown codes simply match nothing.
pub fn district_kelurahan(scoped: &Scoped, district_codes: &[String]) -> sea_orm::sea_query::SelectStatement {
    scoped.ids::<region::Entity>(
        region::Column::Code,
        Condition::all().add(region::Column::ParentCode.is_in(district_codes.iter().cloned())),
    )
}

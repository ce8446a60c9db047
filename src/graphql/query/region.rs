//! Root fields for regions.

use async_graphql::{Context, Object};
use entity::region;

use crate::error::AppError;
use crate::graphql::loaders;
use crate::graphql::types::region::{Region, RegionConnection, RegionFilter, RegionOrder};
use crate::graphql::types::{page_args, root_page};

#[derive(Default)]
pub struct RegionQuery;

#[Object]
impl RegionQuery {
    /// Regions of the Kemendagri hierarchy (province, city, 5 kecamatan, 52 kelurahan), by code unless `orderBy` says otherwise. `filter: {level: [DISTRICT]}` gives the kecamatan; each region's `children` gives its kelurahan.
    #[allow(clippy::too_many_arguments)]
    async fn regions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which rows to list; all given conditions must hold.")] filter: Option<RegionFilter>,
        #[graphql(desc = "Order of the list. Cursors are only valid with the orderBy they were made with.")]
        order_by: Option<RegionOrder>,
        #[graphql(
            desc = "Page size, reading forward (at most the configured maximum, 100 by default; 20 when neither `first` nor `last` is given)."
        )]
        first: Option<i32>,
        #[graphql(desc = "Cursor to read forward from (exclusive).")] after: Option<String>,
        #[graphql(desc = "Page size, reading backward from the end or from `before`.")] last: Option<i32>,
        #[graphql(desc = "Cursor to read backward from (exclusive).")] before: Option<String>,
    ) -> async_graphql::Result<RegionConnection> {
        let condition = filter.unwrap_or_default().condition(crate::graphql::guard::scoped(ctx)?)?;
        let connection = root_page::<region::Entity>(
            ctx,
            condition,
            RegionOrder::ordering(order_by),
            page_args(first, after, last, before),
        )
        .await?;
        Ok(RegionConnection(connection.map(Region)))
    }

    /// A region by its official code, e.g. `63.71.01` (Banjarmasin Selatan).
    /// Null, with a `NOT_FOUND` error, when no region has this code.
    async fn region(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Official Kemendagri code.")] code: String,
    ) -> Option<Region> {
        let found = async {
            let row = loaders::row::<region::Entity>(ctx, code.clone()).await?;
            Ok(row.map(Region).ok_or_else(|| AppError::NotFound(format!("no region has code {code}")))?)
        };
        super::or_null(ctx, found.await)
    }
}

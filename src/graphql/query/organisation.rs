//! Root fields for organisations.

use async_graphql::{Context, ID, Object};
use entity::organisation;

use crate::error::AppError;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::loaders;
use crate::graphql::types::organisation::{
    Organisation, OrganisationConnection, OrganisationFilter, OrganisationOrder,
};
use crate::graphql::types::{page_args, root_page};

#[derive(Default)]
pub struct OrganisationQuery;

#[Object]
impl OrganisationQuery {
    /// Organisations (Dinsos and its partners), by name unless `orderBy` says otherwise.
    #[allow(clippy::too_many_arguments)]
    async fn organisations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which rows to list; all given conditions must hold.")] filter: Option<OrganisationFilter>,
        #[graphql(desc = "Order of the list. Cursors are only valid with the orderBy they were made with.")]
        order_by: Option<OrganisationOrder>,
        #[graphql(
            desc = "Page size, reading forward (at most the configured maximum, 100 by default; 20 when neither `first` nor `last` is given)."
        )]
        first: Option<i32>,
        #[graphql(desc = "Cursor to read forward from (exclusive).")] after: Option<String>,
        #[graphql(desc = "Page size, reading backward from the end or from `before`.")] last: Option<i32>,
        #[graphql(desc = "Cursor to read backward from (exclusive).")] before: Option<String>,
    ) -> async_graphql::Result<OrganisationConnection> {
        let condition = filter.unwrap_or_default().condition()?;
        let connection = root_page::<organisation::Entity>(
            ctx,
            condition,
            OrganisationOrder::ordering(order_by),
            page_args(first, after, last, before),
        )
        .await?;
        Ok(OrganisationConnection(connection.map(Organisation)))
    }

    /// An organisation by global id.
    async fn organisation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Global id.")] id: ID,
    ) -> async_graphql::Result<Organisation> {
        let key = ids::decode_uuid(&id, NodeType::Organisation, "id")?;
        let row = loaders::row::<organisation::Entity>(ctx, key).await?;
        Ok(row.map(Organisation).ok_or_else(|| AppError::NotFound("no organisation has this id".into()))?)
    }
}

//! Root fields for programmes.

use async_graphql::{Context, ID, Object};
use entity::programme;

use crate::error::AppError;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::loaders;
use crate::graphql::types::programme::{Programme, ProgrammeConnection, ProgrammeFilter, ProgrammeOrder};
use crate::graphql::types::{page_args, root_page};

#[derive(Default)]
pub struct ProgrammeQuery;

#[Object]
impl ProgrammeQuery {
    /// Programmes, by name unless `orderBy` says otherwise.
    #[allow(clippy::too_many_arguments)]
    async fn programmes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which rows to list; all given conditions must hold.")] filter: Option<ProgrammeFilter>,
        #[graphql(desc = "Order of the list. Cursors are only valid with the orderBy they were made with.")]
        order_by: Option<ProgrammeOrder>,
        #[graphql(
            desc = "Page size, reading forward (at most the configured maximum, 100 by default; 20 when neither `first` nor `last` is given)."
        )]
        first: Option<i32>,
        #[graphql(desc = "Cursor to read forward from (exclusive).")] after: Option<String>,
        #[graphql(desc = "Page size, reading backward from the end or from `before`.")] last: Option<i32>,
        #[graphql(desc = "Cursor to read backward from (exclusive).")] before: Option<String>,
    ) -> async_graphql::Result<ProgrammeConnection> {
        let condition = filter.unwrap_or_default().condition()?;
        let connection = root_page::<programme::Entity>(
            ctx,
            condition,
            ProgrammeOrder::ordering(order_by),
            page_args(first, after, last, before),
        )
        .await?;
        Ok(ProgrammeConnection(connection.map(Programme)))
    }

    /// A programme by global id.
    async fn programme(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Global id.")] id: ID,
    ) -> async_graphql::Result<Programme> {
        let key = ids::decode_uuid(&id, NodeType::Programme, "id")?;
        let row = loaders::row::<programme::Entity>(ctx, key).await?;
        Ok(row.map(Programme).ok_or_else(|| AppError::NotFound("no programme has this id".into()))?)
    }
}

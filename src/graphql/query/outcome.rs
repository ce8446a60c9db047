//! Root fields for outcomes.

use async_graphql::{Context, ID, Object};
use entity::outcome;

use crate::error::AppError;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::loaders;
use crate::graphql::types::outcome::{Outcome, OutcomeConnection, OutcomeFilter, OutcomeOrder};
use crate::graphql::types::{page_args, root_page};

#[derive(Default)]
pub struct OutcomeQuery;

#[Object]
impl OutcomeQuery {
    /// Outcomes, newest recorded first unless `orderBy` says otherwise.
    #[allow(clippy::too_many_arguments)]
    async fn outcomes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which rows to list; all given conditions must hold.")] filter: Option<OutcomeFilter>,
        #[graphql(desc = "Order of the list. Cursors are only valid with the orderBy they were made with.")]
        order_by: Option<OutcomeOrder>,
        #[graphql(
            desc = "Page size, reading forward (at most the configured maximum, 100 by default; 20 when neither `first` nor `last` is given)."
        )]
        first: Option<i32>,
        #[graphql(desc = "Cursor to read forward from (exclusive).")] after: Option<String>,
        #[graphql(desc = "Page size, reading backward from the end or from `before`.")] last: Option<i32>,
        #[graphql(desc = "Cursor to read backward from (exclusive).")] before: Option<String>,
    ) -> async_graphql::Result<OutcomeConnection> {
        let condition = filter.unwrap_or_default().condition()?;
        let connection = root_page::<outcome::Entity>(
            ctx,
            condition,
            OutcomeOrder::ordering(order_by),
            page_args(first, after, last, before),
        )
        .await?;
        Ok(OutcomeConnection(connection.map(Outcome)))
    }

    /// An outcome by global id.
    async fn outcome(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Global id.")] id: ID,
    ) -> async_graphql::Result<Outcome> {
        let key = ids::decode_uuid(&id, NodeType::Outcome, "id")?;
        let row = loaders::row::<outcome::Entity>(ctx, key).await?;
        Ok(row.map(Outcome).ok_or_else(|| AppError::NotFound("no outcome has this id".into()))?)
    }
}

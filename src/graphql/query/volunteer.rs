//! Root fields for volunteers.

use async_graphql::{Context, ID, Object};
use entity::volunteer;

use crate::error::AppError;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::loaders;
use crate::graphql::types::volunteer::{Volunteer, VolunteerConnection, VolunteerFilter, VolunteerOrder};
use crate::graphql::types::{page_args, root_page};

#[derive(Default)]
pub struct VolunteerQuery;

#[Object]
impl VolunteerQuery {
    /// PSM volunteers, by name unless `orderBy` says otherwise.
    #[allow(clippy::too_many_arguments)]
    async fn volunteers(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which rows to list; all given conditions must hold.")] filter: Option<VolunteerFilter>,
        #[graphql(desc = "Order of the list. Cursors are only valid with the orderBy they were made with.")]
        order_by: Option<VolunteerOrder>,
        #[graphql(
            desc = "Page size, reading forward (at most the configured maximum, 100 by default; 20 when neither `first` nor `last` is given)."
        )]
        first: Option<i32>,
        #[graphql(desc = "Cursor to read forward from (exclusive).")] after: Option<String>,
        #[graphql(desc = "Page size, reading backward from the end or from `before`.")] last: Option<i32>,
        #[graphql(desc = "Cursor to read backward from (exclusive).")] before: Option<String>,
    ) -> async_graphql::Result<VolunteerConnection> {
        let condition = filter.unwrap_or_default().condition()?;
        let connection = root_page::<volunteer::Entity>(
            ctx,
            condition,
            VolunteerOrder::ordering(order_by),
            page_args(first, after, last, before),
        )
        .await?;
        Ok(VolunteerConnection(connection.map(Volunteer)))
    }

    /// A volunteer by global id.
    async fn volunteer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Global id.")] id: ID,
    ) -> async_graphql::Result<Volunteer> {
        let key = ids::decode_uuid(&id, NodeType::Volunteer, "id")?;
        let row = loaders::row::<volunteer::Entity>(ctx, key).await?;
        Ok(row.map(Volunteer).ok_or_else(|| AppError::NotFound("no volunteer has this id".into()))?)
    }
}

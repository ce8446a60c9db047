//! Root fields for persons.

use async_graphql::{Context, ID, Object};
use entity::person;

use crate::error::AppError;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::loaders;
use crate::graphql::types::person::{Person, PersonConnection, PersonFilter, PersonOrder};
use crate::graphql::types::{page_args, root_page};

#[derive(Default)]
pub struct PersonQuery;

#[Object]
impl PersonQuery {
    /// Persons the cases are about, by name unless `orderBy` says otherwise. Personal data: dashboards should prefer aggregates.
    #[allow(clippy::too_many_arguments)]
    async fn persons(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which rows to list; all given conditions must hold.")] filter: Option<PersonFilter>,
        #[graphql(desc = "Order of the list. Cursors are only valid with the orderBy they were made with.")]
        order_by: Option<PersonOrder>,
        #[graphql(
            desc = "Page size, reading forward (at most the configured maximum, 100 by default; 20 when neither `first` nor `last` is given)."
        )]
        first: Option<i32>,
        #[graphql(desc = "Cursor to read forward from (exclusive).")] after: Option<String>,
        #[graphql(desc = "Page size, reading backward from the end or from `before`.")] last: Option<i32>,
        #[graphql(desc = "Cursor to read backward from (exclusive).")] before: Option<String>,
    ) -> async_graphql::Result<PersonConnection> {
        let condition = filter.unwrap_or_default().condition()?;
        let connection = root_page::<person::Entity>(
            ctx,
            condition,
            PersonOrder::ordering(order_by),
            page_args(first, after, last, before),
        )
        .await?;
        Ok(PersonConnection(connection.map(Person)))
    }

    /// A person by global id.
    async fn person(&self, ctx: &Context<'_>, #[graphql(desc = "Global id.")] id: ID) -> async_graphql::Result<Person> {
        let key = ids::decode_uuid(&id, NodeType::Person, "id")?;
        let row = loaders::row::<person::Entity>(ctx, key).await?;
        Ok(row.map(Person).ok_or_else(|| AppError::NotFound("no person has this id".into()))?)
    }
}

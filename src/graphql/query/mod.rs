//! The root Query type, merged from one object per domain noun.

use async_graphql::MergedObject;

/// Declares the root fields of a noun: its connection (`filter`, `orderBy`, `first`/`after`/`last`/
/// `before`) and the lookup of one row by global id. The lookup is nullable, as in Relay and GitHub:
/// an unknown id, or one outside the caller's rows, is null with a `NOT_FOUND` error at its path.
///
/// With `join: "field" => Entity, link column, constructor`, a page whose nodes select `field` (a to-one
/// relation) reads its row in the page's own statement, under that entity's scope (see
/// [`join_also`](crate::graphql::connection::join_also)), and builds each node with `constructor`.
macro_rules! root_fields {
    (
        $query:ident, $entity:path => $node:ident, $node_type:ident,
        $filter:ty, $order:ident, $connection:ident,
        list: $list:ident, $list_doc:literal,
        one: $one:ident, $one_doc:literal, $missing:literal
        $(, join: $field:literal => $joined:path, $link:expr, $with:path)? $(,)?
    ) => {
        #[derive(Default)]
        pub struct $query;

        #[async_graphql::Object]
        impl $query {
            #[doc = $list_doc]
            #[allow(clippy::too_many_arguments)]
            async fn $list(
                &self,
                ctx: &async_graphql::Context<'_>,
                #[graphql(desc = "Which rows to list; all given conditions must hold.")] filter: Option<$filter>,
                #[graphql(desc = "Order of the list. Cursors are only valid with the orderBy they were made with.")]
                order_by: Option<$order>,
                #[graphql(
                    desc = "Page size, reading forward (at most the configured maximum, 100 by default; 20 when neither `first` nor `last` is given)."
                )]
                first: Option<i32>,
                #[graphql(desc = "Cursor to read forward from (exclusive).")] after: Option<String>,
                #[graphql(desc = "Page size, reading backward from the end or from `before`.")] last: Option<i32>,
                #[graphql(desc = "Cursor to read backward from (exclusive).")] before: Option<String>,
            ) -> async_graphql::Result<$connection> {
                $crate::graphql::guard::check_inputs(ctx, stringify!($node), &[&filter, &order_by])?;
                let condition = filter.unwrap_or_default().condition(crate::graphql::guard::scoped(ctx)?)?;
                let args = $crate::graphql::types::page_args(first, after, last, before);
                $(
                    if $crate::graphql::types::nodes_select(ctx, $field) {
                        let ordering = $order::ordering(order_by);
                        let connection = $crate::graphql::types::root_page_with::<$entity, $joined>(
                            ctx, condition, ordering, args, $link,
                        )
                        .await?;
                        return Ok($connection(connection.map($with)));
                    }
                )?
                let connection =
                    $crate::graphql::types::root_page::<$entity>(ctx, condition, $order::ordering(order_by), args).await?;
                Ok($connection(connection.map($node::from)))
            }

            #[doc = $one_doc]
            #[doc = "Null, with a `NOT_FOUND` error, when no such object exists or the key may not see it."]
            async fn $one(
                &self,
                ctx: &async_graphql::Context<'_>,
                #[graphql(desc = "Global id.")] id: async_graphql::ID,
            ) -> Option<$node> {
                use $crate::graphql::ids::{NodeType, decode_uuid};
                let found = async {
                    let key = decode_uuid(&id, NodeType::$node_type, "id")?;
                    let row = $crate::graphql::loaders::row::<$entity>(ctx, key).await?;
                    Ok(row.map($node::from).ok_or_else(|| $crate::error::AppError::NotFound($missing.into()))?)
                };
                $crate::graphql::query::or_null(ctx, found.await)
            }
        }
    };
}

/// A nullable single-object field's answer: the object, or null with the error at the field's path.
/// async-graphql would drop the key of a field whose resolver fails; Relay and GitHub clients expect it
/// present and null, its siblings intact, and the error (`NOT_FOUND` for an unknown id or one outside
/// the caller's rows) in `errors`, where the audit trail's record of refusals reads it.
pub(crate) fn or_null<T>(ctx: &async_graphql::Context<'_>, result: async_graphql::Result<T>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(error) => {
            ctx.add_error(ctx.set_error_path(error.into_server_error(ctx.item.pos)));
            None
        }
    }
}

mod audit;
mod case;
mod feed;
mod node;
mod organisation;
mod outcome;
mod person;
mod programme;
mod rate_limit;
mod referral;
mod region;
mod stats;
mod viewer;
mod volunteer;

pub use node::Node;

/// Every read entry point of the API.
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    node::NodeQuery,
    case::CaseQuery,
    volunteer::VolunteerQuery,
    programme::ProgrammeQuery,
    outcome::OutcomeQuery,
    referral::ReferralQuery,
    organisation::OrganisationQuery,
    person::PersonQuery,
    region::RegionQuery,
    stats::StatsQuery,
    viewer::ViewerQuery,
    feed::FeedQuery,
    audit::AuditQuery,
    rate_limit::RateLimitQuery,
);

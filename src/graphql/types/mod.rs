//! GraphQL output and input types, one module per domain noun, built from the entity models.
//!
//! Each noun module holds the object type, its filter and orderBy inputs, how it is listed (the
//! [`Listed`](crate::graphql::connection::Listed) impl) and the relations its fields follow.

use async_graphql::{Context, InputObject};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection};

use crate::config::ApiConfig;
use crate::error::{AppError, AppResult};
use crate::graphql::connection::{CursorKey, PageArgs, PageLimits};

pub mod audit;
pub mod case;
pub mod enums;
pub mod key;
pub mod organisation;
pub mod outcome;
pub mod person;
pub mod programme;
pub mod referral;
pub mod region;
pub mod stats;
pub mod volunteer;

/// A span of time between two instants. Each instant must carry its UTC offset (RFC 3339, e.g.
/// `2025-01-01T00:00:00+08:00` for midnight in Banjarmasin), so there is never doubt about the time zone.
#[derive(InputObject, Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstantRange {
    /// Earliest instant included.
    pub from: Option<DateTime<Utc>>,
    /// First instant no longer included (the range ends just before it).
    pub before: Option<DateTime<Utc>>,
}

impl InstantRange {
    /// Adds the range to `condition`; `field` names the input in errors.
    pub fn apply(&self, condition: Condition, column: impl ColumnTrait, field: &str) -> AppResult<Condition> {
        if let (Some(from), Some(before)) = (self.from, self.before)
            && before <= from
        {
            return Err(AppError::bad_input(field, format!("`{field}.before` must be later than `{field}.from`")));
        }
        let mut condition = condition;
        if let Some(from) = self.from {
            condition = condition.add(column.gte(from));
        }
        if let Some(before) = self.before {
            condition = condition.add(column.lt(before));
        }
        Ok(condition)
    }
}

/// A span of calendar days, both ends included (`YYYY-MM-DD`).
#[derive(InputObject, Debug, Clone, PartialEq, Eq, Hash)]
pub struct DateRange {
    /// First day included.
    pub from: Option<NaiveDate>,
    /// Last day included.
    pub to: Option<NaiveDate>,
}

impl DateRange {
    /// Adds the range to `condition`; `field` names the input in errors.
    pub fn apply(&self, condition: Condition, column: impl ColumnTrait, field: &str) -> AppResult<Condition> {
        if let (Some(from), Some(to)) = (self.from, self.to)
            && to < from
        {
            return Err(AppError::bad_input(field, format!("`{field}.to` must not be before `{field}.from`")));
        }
        let mut condition = condition;
        if let Some(from) = self.from {
            condition = condition.add(column.gte(from));
        }
        if let Some(to) = self.to {
            condition = condition.add(column.lte(to));
        }
        Ok(condition)
    }
}

/// The database connection of the request, from its read handle (statements run on it must be built
/// from [`Scoped`](crate::service::scope::Scoped) selects, or be commands).
pub fn db<'a>(ctx: &'a Context<'_>) -> AppResult<&'a DatabaseConnection> {
    Ok(crate::graphql::guard::scoped(ctx)?.db())
}

/// The API configuration of the request.
pub fn config<'a>(ctx: &'a Context<'_>) -> AppResult<&'a ApiConfig> {
    ctx.data::<ApiConfig>().map_err(|e| AppError::Internal(e.message))
}

/// Page-size limits from the configuration.
pub fn limits(ctx: &Context<'_>) -> AppResult<PageLimits> {
    let config = config(ctx)?;
    Ok(PageLimits { default_size: config.default_page_size, max_size: config.max_page_size })
}

/// The key that seals and opens cursors, loaded with the schema.
pub fn cursor_key(ctx: &Context<'_>) -> AppResult<CursorKey> {
    ctx.data::<CursorKey>().copied().map_err(|e| AppError::Internal(e.message))
}

/// Collects the four paging arguments.
pub fn page_args(first: Option<i32>, after: Option<String>, last: Option<i32>, before: Option<String>) -> PageArgs {
    PageArgs { first, after, last, before }
}

/// Adds `column IN values` when `values` is given; an empty list matches nothing.
pub fn any_of<C: ColumnTrait, V: Into<sea_orm::Value> + Clone>(
    condition: Condition,
    column: C,
    values: Option<&Vec<V>>,
) -> Condition {
    match values {
        Some(values) => condition.add(column.is_in(values.iter().cloned())),
        None => condition,
    }
}

/// Declares the GraphQL connection and edge types of a node type.
macro_rules! connection_types {
    ($connection:ident, $edge:ident, $node:ident, $connection_doc:literal, $edge_doc:literal) => {
        #[doc = $connection_doc]
        pub struct $connection(pub $crate::graphql::connection::Connection<$node>);

        #[doc = $connection_doc]
        #[async_graphql::Object]
        impl $connection {
            /// The rows of this page, each with the cursor that points at it.
            async fn edges(&self) -> Vec<$edge> {
                self.0.edges.iter().map(|(cursor, node)| $edge { cursor: cursor.clone(), node: node.clone() }).collect()
            }

            /// The rows of this page, without cursors.
            async fn nodes(&self) -> Vec<&$node> {
                self.0.edges.iter().map(|(_, node)| node).collect()
            }

            /// Where this page stands in the whole list, and the cursors to move on from it.
            async fn page_info(&self) -> &$crate::graphql::connection::PageInfo {
                &self.0.page_info
            }

            /// How many rows match the filter across all pages. Computed only when selected (it costs a
            /// COUNT over the filtered rows), so leave it out of queries that do not show it.
            async fn total_count(&self, ctx: &async_graphql::Context<'_>) -> async_graphql::Result<i64> {
                Ok(self.0.total_count(ctx).await?)
            }
        }

        #[doc = $edge_doc]
        #[derive(async_graphql::SimpleObject)]
        pub struct $edge {
            /// Opaque cursor of this row: pass it as `after` (or `before`) to continue from here.
            pub cursor: String,
            /// The row.
            pub node: $node,
        }
    };
}

pub(crate) use connection_types;

/// Validated arguments of a nested connection field. The fingerprint makes equal arguments share one
/// statement across every parent on the page.
pub fn nested_args<E: crate::graphql::connection::Listed, F: std::fmt::Debug>(
    ctx: &Context<'_>,
    filter: &F,
    condition: Condition,
    ordering: crate::graphql::connection::Ordering<E::Sort>,
    args: PageArgs,
) -> AppResult<std::sync::Arc<crate::graphql::connection::NestedArgs<E>>> {
    let page = crate::graphql::connection::Page::parse(&args, &ordering, limits(ctx)?, cursor_key(ctx)?)?;
    let fingerprint = format!("{filter:?}|{ordering:?}|{args:?}");
    Ok(std::sync::Arc::new(crate::graphql::connection::NestedArgs { fingerprint, condition, ordering, page }))
}

/// One page of a root connection over the rows of `E` matching `condition` that the viewer may see.
pub async fn root_page<E: crate::graphql::connection::Listed>(
    ctx: &Context<'_>,
    condition: Condition,
    ordering: crate::graphql::connection::Ordering<E::Sort>,
    args: PageArgs,
) -> AppResult<crate::graphql::connection::Connection<E::Model>> {
    let page = crate::graphql::connection::Page::parse(&args, &ordering, limits(ctx)?, cursor_key(ctx)?)?;
    crate::graphql::connection::fetch_page::<E>(crate::graphql::guard::scoped(ctx)?, condition, &ordering, &page).await
}

/// [`root_page`] with the `J` row each listed row's `link` column points at, read by the same statement
/// (see [`join_also`](crate::graphql::connection::join_also)).
pub async fn root_page_with<E: crate::graphql::connection::Listed, J: crate::graphql::connection::Keyed>(
    ctx: &Context<'_>,
    condition: Condition,
    ordering: crate::graphql::connection::Ordering<E::Sort>,
    args: PageArgs,
    link: E::Column,
) -> AppResult<crate::graphql::connection::Connection<(E::Model, Option<J::Model>)>> {
    let page = crate::graphql::connection::Page::parse(&args, &ordering, limits(ctx)?, cursor_key(ctx)?)?;
    let scoped = crate::graphql::guard::scoped(ctx)?;
    crate::graphql::connection::fetch_page_with::<E, J>(scoped, condition, &ordering, &page, link).await
}

/// [`root_page`] with each listed row's `C` children (`children`: their parent column and their order)
/// and, when `link` is given, its `J` row, all in one statement (see
/// [`fetch_page_with_children`](crate::graphql::connection::fetch_page_with_children)).
pub async fn root_page_with_children<
    E: crate::graphql::connection::Listed,
    J: crate::graphql::connection::Keyed,
    C: crate::service::scope::Guarded,
>(
    ctx: &Context<'_>,
    condition: Condition,
    ordering: crate::graphql::connection::Ordering<E::Sort>,
    args: PageArgs,
    link: Option<E::Column>,
    children: (C::Column, C::Column),
) -> AppResult<crate::graphql::connection::Connection<crate::graphql::connection::WithChildren<E, J, C>>> {
    let page = crate::graphql::connection::Page::parse(&args, &ordering, limits(ctx)?, cursor_key(ctx)?)?;
    let scoped = crate::graphql::guard::scoped(ctx)?;
    crate::graphql::connection::fetch_page_with_children::<E, J, C>(scoped, condition, &ordering, &page, link, children)
        .await
}

/// Whether the connection field being resolved selects `field` on its nodes (under `nodes` or
/// `edges { node }`, fragments included): then a page reads that relation in its own statement.
pub fn nodes_select(ctx: &Context<'_>, field: &str) -> bool {
    let look_ahead = ctx.look_ahead();
    look_ahead.field("nodes").field(field).exists() || look_ahead.field("edges").field("node").field(field).exists()
}

/// Today's date in the city's time zone (WITA by default).
pub fn city_today(ctx: &Context<'_>) -> AppResult<NaiveDate> {
    Ok(Utc::now().with_timezone(&config(ctx)?.city_offset()).date_naive())
}

/// Whole years from `since` to `until`.
pub fn whole_years(since: NaiveDate, until: NaiveDate) -> i32 {
    until.years_since(since).map(|years| years as i32).unwrap_or(0)
}

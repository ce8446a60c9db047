//! Root fields for cases.

use async_graphql::{Context, ID, Object};
use entity::{case, outcome, volunteer};
use sea_orm::{ColumnTrait, QueryFilter};

use crate::error::AppError;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::loaders;
use crate::graphql::types::case::{Case, CaseConnection, CaseFilter, CaseOrder};
use crate::graphql::types::{db, nodes_select, page_args, root_page, root_page_with, root_page_with_children};

#[derive(Default)]
pub struct CaseQuery;

#[Object]
impl CaseQuery {
    /// Social cases, newest opened first unless `orderBy` says otherwise.
    #[allow(clippy::too_many_arguments)]
    async fn cases(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which rows to list; all given conditions must hold.")] filter: Option<CaseFilter>,
        #[graphql(desc = "Order of the list. Cursors are only valid with the orderBy they were made with.")]
        order_by: Option<CaseOrder>,
        #[graphql(
            desc = "Page size, reading forward (at most the configured maximum, 100 by default; 20 when neither `first` nor `last` is given)."
        )]
        first: Option<i32>,
        #[graphql(desc = "Cursor to read forward from (exclusive).")] after: Option<String>,
        #[graphql(desc = "Page size, reading backward from the end or from `before`.")] last: Option<i32>,
        #[graphql(desc = "Cursor to read backward from (exclusive).")] before: Option<String>,
    ) -> async_graphql::Result<CaseConnection> {
        let condition = filter.unwrap_or_default().condition(crate::graphql::guard::scoped(ctx)?)?;
        let (ordering, args) = (CaseOrder::ordering(order_by), page_args(first, after, last, before));
        if nodes_select(ctx, "outcomes") {
            let link = nodes_select(ctx, "reportingVolunteer").then_some(case::Column::ReportingVolunteerId);
            let outcomes = (outcome::Column::CaseId, outcome::Column::RecordedAt);
            let connection = root_page_with_children::<case::Entity, volunteer::Entity, outcome::Entity>(
                ctx, condition, ordering, args, link, outcomes,
            )
            .await?;
            return Ok(CaseConnection(connection.map(Case::with_outcomes)));
        }
        if nodes_select(ctx, "reportingVolunteer") {
            let link = case::Column::ReportingVolunteerId;
            let connection =
                root_page_with::<case::Entity, volunteer::Entity>(ctx, condition, ordering, args, link).await?;
            return Ok(CaseConnection(connection.map(Case::with_volunteer)));
        }
        let connection = root_page::<case::Entity>(ctx, condition, ordering, args).await?;
        Ok(CaseConnection(connection.map(Case::from)))
    }

    /// A case by its global id, or by its reference number. Give exactly one of `id` and `referenceNumber`.
    /// Null, with a `NOT_FOUND` error, when no such case exists or the key may not see it.
    async fn case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Global id of the case.")] id: Option<ID>,
        #[graphql(desc = "Reference number, e.g. `PSM-2025-000123`.")] reference_number: Option<String>,
    ) -> Option<Case> {
        super::or_null(ctx, find_case(ctx, id, reference_number).await)
    }
}

/// The case `case(id:, referenceNumber:)` names.
async fn find_case(ctx: &Context<'_>, id: Option<ID>, reference_number: Option<String>) -> async_graphql::Result<Case> {
    let row = match (id, reference_number) {
        (Some(id), None) => loaders::row::<case::Entity>(ctx, ids::decode_uuid(&id, NodeType::Case, "id")?).await?,
        (None, Some(reference)) => crate::graphql::guard::scoped(ctx)?
            .find::<case::Entity>()
            .filter(case::Column::ReferenceNumber.eq(reference))
            .one(db(ctx)?)
            .await
            .map_err(AppError::from)?,
        _ => return Err(AppError::bad_input("id", "give exactly one of `id` and `referenceNumber`").into()),
    };
    Ok(row.map(Case::from).ok_or_else(|| AppError::NotFound("no such case".into()))?)
}

//! Root fields for referrals.

use async_graphql::{Context, ID, Object};
use entity::referral;

use crate::error::AppError;
use crate::graphql::ids::{self, NodeType};
use crate::graphql::loaders;
use crate::graphql::types::referral::{Referral, ReferralConnection, ReferralFilter, ReferralOrder};
use crate::graphql::types::{page_args, root_page};

#[derive(Default)]
pub struct ReferralQuery;

#[Object]
impl ReferralQuery {
    /// Referrals, newest sent first unless `orderBy` says otherwise.
    #[allow(clippy::too_many_arguments)]
    async fn referrals(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which rows to list; all given conditions must hold.")] filter: Option<ReferralFilter>,
        #[graphql(desc = "Order of the list. Cursors are only valid with the orderBy they were made with.")]
        order_by: Option<ReferralOrder>,
        #[graphql(
            desc = "Page size, reading forward (at most the configured maximum, 100 by default; 20 when neither `first` nor `last` is given)."
        )]
        first: Option<i32>,
        #[graphql(desc = "Cursor to read forward from (exclusive).")] after: Option<String>,
        #[graphql(desc = "Page size, reading backward from the end or from `before`.")] last: Option<i32>,
        #[graphql(desc = "Cursor to read backward from (exclusive).")] before: Option<String>,
    ) -> async_graphql::Result<ReferralConnection> {
        let condition = filter.unwrap_or_default().condition()?;
        let connection = root_page::<referral::Entity>(
            ctx,
            condition,
            ReferralOrder::ordering(order_by),
            page_args(first, after, last, before),
        )
        .await?;
        Ok(ReferralConnection(connection.map(Referral)))
    }

    /// A referral by global id.
    async fn referral(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Global id.")] id: ID,
    ) -> async_graphql::Result<Referral> {
        let key = ids::decode_uuid(&id, NodeType::Referral, "id")?;
        let row = loaders::row::<referral::Entity>(ctx, key).await?;
        Ok(row.map(Referral).ok_or_else(|| AppError::NotFound("no referral has this id".into()))?)
    }
}

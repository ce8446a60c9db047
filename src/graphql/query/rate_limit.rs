//! `rateLimit`: the caller's budget of points, as GitHub's `rateLimit` field reports it.

use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::graphql::admission::RequestedCost;
use crate::ratelimit::Meter;

#[derive(Default)]
pub struct RateLimitQuery;

#[Object]
impl RateLimitQuery {
    /// The API key's budget of points after this query was charged, and what this query costs. Every
    /// query is charged its requested cost before it runs, and given back what it did not use (see
    /// `extensions.cost` in every answer, and the README's "Limits and costs"). Null when the request
    /// is not rate limited (rate limiting turned off on the server).
    async fn rate_limit(&self, ctx: &Context<'_>) -> Option<RateLimit> {
        let meter = ctx.data_opt::<Meter>()?;
        let status = meter.throttle_status()?;
        let cost = ctx.data_opt::<RequestedCost>().map_or(0, |cost| cost.0);
        let int = |value: u64| i32::try_from(value).unwrap_or(i32::MAX);
        Some(RateLimit {
            limit: int(status.maximum_available),
            cost: int(cost),
            remaining: int(status.currently_available),
            restore_rate: int(status.restore_rate),
            reset_at: status.reset_at,
        })
    }
}

/// An API key's budget of points: a bucket that holds `limit` points and regains `restoreRate` per
/// second. A query whose cost is more than `remaining` is refused with `THROTTLED` (HTTP 429).
#[derive(SimpleObject)]
pub struct RateLimit {
    /// Points the key's bucket holds when full.
    pub limit: i32,
    /// Points this query was charged before it ran (its requested cost); what it did not use is given
    /// back afterwards (`extensions.cost.actualQueryCost`).
    pub cost: i32,
    /// Points left now, after this query's charge.
    pub remaining: i32,
    /// Points regained per second.
    pub restore_rate: i32,
    /// When the bucket is full again if no further query is made.
    pub reset_at: DateTime<Utc>,
}

//! The daily statistics budget of each key: how many statistics cells (published counts) a key may
//! receive per day in the city's time zone. Perturbation keeps any one answer from giving a small count
//! away; what it cannot stop is averaging many differently phrased answers about the same records, and
//! the budget bounds how many a key gets (see the README's disclosure section for the arithmetic).
//!
//! The budget lives in the database (`statistics_budgets`, one row per key and day), so every replica
//! enforces the same one: a request is charged with one `INSERT ... ON CONFLICT DO UPDATE ... WHERE
//! ... RETURNING`, which adds its cells only while the day's total stays within the budget. A refused
//! request is not charged. STAFF keys, who may read the rows behind every figure, have no budget.

use chrono::{DateTime, Duration, FixedOffset, NaiveTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use uuid::Uuid;

use crate::auth::Viewer;
use crate::error::{AppError, AppResult};

/// The budget settings.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Cells a key may receive per day.
    pub cells_per_day: u64,
    /// What one request costs at least.
    pub minimum_per_request: u64,
    /// The city's time zone: days start at its midnight.
    pub offset: FixedOffset,
}

const TABLE: &str = "statistics_budgets";

/// `STATS_BUDGET_EXHAUSTED` for a request of `cost` cells at `now`, with the instant the budget resets.
fn exhausted(budget: &Budget, cost: u64, now: DateTime<Utc>) -> AppError {
    let day = now.with_timezone(&budget.offset).date_naive();
    let reset_at = (day + Duration::days(1))
        .and_time(NaiveTime::MIN)
        .and_local_timezone(budget.offset)
        .single()
        .map_or(now + Duration::days(1), |midnight| midnight.with_timezone(&Utc));
    AppError::BudgetExhausted {
        message: format!(
            "this key's statistics budget for today ({} cells) does not cover this request ({cost} cells); it \
             resets at midnight in the city, {}",
            budget.cells_per_day,
            reset_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        reset_at,
        budget: budget.cells_per_day,
        cost,
    }
}

/// Refuses, before any statistics statement runs, a request that today's remaining budget of
/// `viewer`'s key cannot cover even at its minimum cost: an exhausted key costs the database one
/// indexed read, not a grouping over the case file. (The request is charged its real cells afterwards
/// by [`charge`], which alone decides under concurrency.)
pub async fn check(db: &DatabaseConnection, viewer: &Viewer, budget: &Budget, now: DateTime<Utc>) -> AppResult<()> {
    let day = now.with_timezone(&budget.offset).date_naive();
    let cost = budget.minimum_per_request;
    let mut select = Query::select();
    select
        .column(Alias::new("cells"))
        .from(Alias::new(TABLE))
        .and_where(Expr::col(Alias::new("api_key_id")).eq(viewer.key_id.unwrap_or(Uuid::nil())))
        .and_where(Expr::col(Alias::new("day")).eq(day));
    let used = match db.query_one(&select).await? {
        Some(row) => std::cmp::max(row.try_get::<i64>("", "cells")?, 0) as u64,
        None => 0,
    };
    if used.saturating_add(cost) > budget.cells_per_day {
        crate::ops::metrics::refused("STATS_BUDGET_EXHAUSTED");
        return Err(exhausted(budget, cost, now));
    }
    Ok(())
}

/// Charges `viewer`'s key with a request that publishes `cells` cells at `now`; returns the cells its
/// key has used today, or `STATS_BUDGET_EXHAUSTED` (nothing charged) with the instant the budget resets.
/// A viewer without a key (tests, the server itself) is charged as the nil key.
pub async fn charge(
    db: &DatabaseConnection,
    viewer: &Viewer,
    cells: u64,
    budget: &Budget,
    now: DateTime<Utc>,
) -> AppResult<u64> {
    let day = now.with_timezone(&budget.offset).date_naive();
    let cost = std::cmp::max(cells, budget.minimum_per_request);
    let exhausted = || exhausted(budget, cost, now);
    if cost > budget.cells_per_day {
        return Err(exhausted());
    }
    let table = Alias::new(TABLE);
    let excluded = Alias::new("excluded");
    let [key, day_column, used, requests, updated_at] =
        ["api_key_id", "day", "cells", "requests", "updated_at"].map(Alias::new);
    let amount = |value: u64| Expr::val(i64::try_from(value).unwrap_or(i64::MAX));
    let mut upsert = Query::insert();
    upsert
        .into_table(table.clone())
        .columns([key.clone(), day_column.clone(), used.clone(), requests.clone(), updated_at.clone()])
        .values([
            Expr::val(viewer.key_id.unwrap_or(Uuid::nil())),
            Expr::val(day),
            amount(cost),
            Expr::val(1i64),
            Expr::val(now),
        ])
        .map_err(|e| AppError::Internal(format!("statistics budget statement: {e}")))?
        .on_conflict(
            OnConflict::columns([key, day_column])
                .value(
                    used.clone(),
                    Expr::col((table.clone(), used.clone())).add(Expr::col((excluded.clone(), used.clone()))),
                )
                .value(requests.clone(), Expr::col((table.clone(), requests)).add(1i64))
                .value(updated_at.clone(), Expr::col((excluded, updated_at)))
                .action_and_where(Expr::col((table, used.clone())).add(amount(cost)).lte(amount(budget.cells_per_day)))
                .to_owned(),
        )
        .returning_col(used);
    match db.query_one(&upsert).await? {
        Some(row) => Ok(std::cmp::max(row.try_get::<i64>("", "cells")?, 0) as u64),
        None => Err(exhausted()),
    }
}

//! The request side of disclosure control for the statistics fields: what each caller gets (exact
//! figures for STAFF who ask, perturbed ones for everybody else), which inputs a non-exact request may
//! use (whole days in the city's time zone, no filter that selects one record by itself, no volunteer
//! named to a key that reads no volunteer rows), the daily budget of the caller's key, and the audit
//! record of every statistics request. The arithmetic itself lives in
//! [`service::perturbation`](crate::service::perturbation) and
//! [`service::suppression`](crate::service::suppression), the budget in
//! [`service::budget`](crate::service::budget).

use std::future::Future;

use async_graphql::Context;
use chrono::{DateTime, FixedOffset, Timelike, Utc};
use serde_json::json;

use crate::error::{AppError, AppResult};
use crate::graphql::guard;
use crate::graphql::types::case::CaseFilter;
use crate::graphql::types::outcome::OutcomeFilter;
use crate::graphql::types::programme::ProgrammeFilter;
use crate::graphql::types::referral::ReferralFilter;
use crate::graphql::types::stats::StatsPeriod;
use crate::graphql::types::volunteer::VolunteerFilter;
use crate::graphql::types::{InstantRange, config, db};
use crate::service::budget::{self, Budget};
use crate::service::policy::{self, Kind, Rows};
use crate::service::statistics::{Disclosure, Settings};

/// The settings of one statistics request. Statistics are city-wide figures for STAFF, DASHBOARD and
/// ADMIN keys; volunteers and partners work from their own lists. Only STAFF, who may read the rows
/// behind every figure, may ask for `exact` figures; everybody else gets them through disclosure
/// control.
pub fn settings(ctx: &Context<'_>, exact: bool) -> AppResult<Settings> {
    let role = guard::viewer(ctx)?.role;
    if !policy::statistics(role) {
        return Err(AppError::Forbidden(format!("a {} key may not read city-wide statistics", role.as_str())));
    }
    if exact && !policy::exact_statistics(role) {
        return Err(AppError::Forbidden(format!(
            "a {} key may not ask for exact (unperturbed) statistics",
            role.as_str()
        )));
    }
    let config = config(ctx)?;
    Ok(Settings {
        minimum_cell_size: if exact { 1 } else { u64::from(std::cmp::max(config.minimum_cell_size, 1)) },
        offset: config.city_offset(),
        max_buckets: config.max_buckets as usize,
        tallies: config.stats_tallies,
        disclosure: (!exact).then(|| Disclosure {
            table: config.ptable(),
            percentile_minimum: u64::from(config.percentile_minimum_count),
        }),
    })
}

/// Inputs of a statistics request that disclosure control looks at.
pub trait StatisticsInputs {
    /// The instants it holds, each named as the client wrote it.
    fn instants(&self) -> Vec<(String, DateTime<Utc>)> {
        Vec::new()
    }
    /// The inputs set that select one record by themselves.
    fn singling_out(&self) -> Vec<&'static str> {
        Vec::new()
    }
}

impl<T: StatisticsInputs> StatisticsInputs for Option<T> {
    fn instants(&self) -> Vec<(String, DateTime<Utc>)> {
        self.as_ref().map(T::instants).unwrap_or_default()
    }
    fn singling_out(&self) -> Vec<&'static str> {
        self.as_ref().map(T::singling_out).unwrap_or_default()
    }
}

fn range(name: &str, range: &Option<InstantRange>) -> Vec<(String, DateTime<Utc>)> {
    let Some(range) = range else { return Vec::new() };
    [("from", range.from), ("before", range.before)]
        .into_iter()
        .filter_map(|(end, instant)| instant.map(|instant| (format!("filter.{name}.{end}"), instant)))
        .collect()
}

impl StatisticsInputs for CaseFilter {
    fn instants(&self) -> Vec<(String, DateTime<Utc>)> {
        let mut instants = range("opened", &self.opened);
        instants.extend(range("closed", &self.closed));
        instants.extend(self.updated_since.map(|since| ("filter.updatedSince".to_owned(), since)));
        instants
    }
    fn singling_out(&self) -> Vec<&'static str> {
        self.reference_number.as_ref().map(|_| "filter.referenceNumber").into_iter().collect()
    }
}

impl StatisticsInputs for ReferralFilter {
    fn instants(&self) -> Vec<(String, DateTime<Utc>)> {
        let mut instants = range("sent", &self.sent);
        instants.extend(self.updated_since.map(|since| ("filter.updatedSince".to_owned(), since)));
        instants
    }
    fn singling_out(&self) -> Vec<&'static str> {
        self.case_id.as_ref().map(|_| "filter.caseId").into_iter().collect()
    }
}

impl StatisticsInputs for OutcomeFilter {
    fn instants(&self) -> Vec<(String, DateTime<Utc>)> {
        range("recorded", &self.recorded)
    }
    fn singling_out(&self) -> Vec<&'static str> {
        self.case_id.as_ref().map(|_| "filter.caseId").into_iter().collect()
    }
}

/// Days only (`activeOn`): nothing finer to refuse.
impl StatisticsInputs for ProgrammeFilter {}

/// Days only (`trainedSince`, `servedSince`): nothing finer to refuse.
impl StatisticsInputs for VolunteerFilter {}

/// The instants of `asOf` and `period`.
pub struct Time {
    pub as_of: Option<DateTime<Utc>>,
    pub period: Option<StatsPeriod>,
}

impl StatisticsInputs for Time {
    fn instants(&self) -> Vec<(String, DateTime<Utc>)> {
        let mut instants: Vec<(String, DateTime<Utc>)> =
            self.as_of.map(|at| ("asOf".to_owned(), at)).into_iter().collect();
        if let Some(period) = self.period {
            instants.push(("period.from".to_owned(), period.from));
            instants.push(("period.before".to_owned(), period.before));
        }
        instants
    }
}

/// Whether `instant` is a midnight in the city.
pub fn whole_day(instant: DateTime<Utc>, offset: FixedOffset) -> bool {
    let local = instant.with_timezone(&offset);
    local.num_seconds_from_midnight() == 0 && local.nanosecond() == 0
}

/// Refuses, for requests under disclosure control, the inputs that slice finer than published figures:
/// an instant that is not a midnight in the city's time zone (`BAD_USER_INPUT`: figures are published
/// per whole day, so two requests cannot isolate the records of one second), and a filter that selects
/// one record by itself (`BAD_USER_INPUT`). Exact requests may use anything.
pub fn check_inputs(settings: &Settings, inputs: &[&dyn StatisticsInputs]) -> AppResult<()> {
    if settings.disclosure.is_none() {
        return Ok(());
    }
    for input in inputs {
        if let Some(field) = input.singling_out().first() {
            return Err(AppError::bad_input(
                *field,
                format!(
                    "`{field}` selects one record by itself: statistics describe groups (exact figures need a \
                     STAFF key and `exact: true`)"
                ),
            ));
        }
        for (field, instant) in input.instants() {
            if !whole_day(instant, settings.offset) {
                let midnight = instant.with_timezone(&settings.offset).date_naive();
                return Err(AppError::bad_input(
                    field.clone(),
                    format!(
                        "statistics are published per whole day: `{field}` must be a midnight in the city's time \
                         zone (UTC{}), e.g. {}T00:00:00{}",
                        settings.offset, midnight, settings.offset
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Refuses `what` (grouping or filtering by reporting volunteer) to keys that read no volunteer rows: a
/// group's key would be a volunteer such a key may not see, and a filter a volunteer it cannot name.
pub fn require_volunteer_rows(ctx: &Context<'_>, what: &str) -> AppResult<()> {
    let role = guard::viewer(ctx)?.role;
    if policy::rows(role, Kind::Volunteer) == Rows::All {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!("a {} key reads no volunteer rows, so it may not {what}", role.as_str())))
    }
}

/// The budget of the caller's key; `None` when its role has none (STAFF).
fn budget_of(ctx: &Context<'_>) -> AppResult<Option<Budget>> {
    if !policy::budgeted(guard::viewer(ctx)?.role) {
        return Ok(None);
    }
    let config = config(ctx)?;
    Ok(Some(Budget {
        cells_per_day: config.stats_budget_cells,
        minimum_per_request: config.stats_request_minimum_cells,
        offset: config.city_offset(),
    }))
}

/// Charges the caller's key for `cells` published cells, unless its role has no budget (STAFF).
pub async fn charge(ctx: &Context<'_>, cells: u64) -> AppResult<()> {
    if let Some(budget) = budget_of(ctx)? {
        budget::charge(db(ctx)?, guard::viewer(ctx)?, cells, &budget, Utc::now()).await?;
    }
    Ok(())
}

/// Runs a statistics resolver and records the request in the audit trail, whatever its outcome: the
/// field, its arguments (filters and groupings hold no personal data), whether exact, and the cells
/// published or the error code. `body` returns its result and the cells it published.
pub async fn audited<T>(
    ctx: &Context<'_>,
    exact: bool,
    body: impl Future<Output = AppResult<(T, u64)>>,
) -> async_graphql::Result<T> {
    // An exhausted key is refused before the statistics statement runs.
    let checked = match budget_of(ctx) {
        Ok(Some(budget)) => budget::check(db(ctx)?, guard::viewer(ctx)?, &budget, Utc::now()).await,
        Ok(None) => Ok(()),
        Err(error) => Err(error),
    };
    let outcome = match checked {
        Ok(()) => body.await,
        Err(error) => Err(error),
    };
    let field = ctx.field();
    let arguments: serde_json::Map<String, serde_json::Value> = field
        .arguments()
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| (name.to_string(), value.into_json().unwrap_or(serde_json::Value::Null)))
        .collect();
    let detail = match &outcome {
        Ok((_, cells)) => json!({ "arguments": arguments, "exact": exact, "cells": cells }),
        Err(error) => json!({ "arguments": arguments, "exact": exact, "refused": error.code() }),
    };
    guard::read_log(ctx)?.record_statistics(field.name(), detail);
    Ok(outcome.map(|(value, _)| value)?)
}

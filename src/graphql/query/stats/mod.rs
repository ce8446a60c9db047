//! Root fields for aggregate statistics: `caseStats`, `referralStats`, `outcomeStats`, `programmeStats`
//! and `volunteerStats`, each one grouped SQL statement run through the
//! [`statistics`](crate::service::statistics) engine, published through disclosure control unless STAFF
//! ask for exact figures; and `volunteerCoverage`. The request side of disclosure control (inputs,
//! budget, audit) is [`disclosure`](crate::graphql::disclosure).
//!
//! This module holds the root fields; each kind of fact has its own: [`cases`] (with the tallies that
//! can answer it and cases as they stood), [`referrals`], [`volunteers`], [`outcomes`], [`programmes`],
//! and [`coverage`] (`volunteerCoverage`). They share this module's imports and helpers.

use async_graphql::{Context, Object};
use chrono::{DateTime, Utc};
use entity::{
    case, case_category, case_status_change, enrollment, organisation, outcome, programme, referral, referral_event,
    region, volunteer,
};
use futures_util::future::try_join_all;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, JoinType, Query, SelectStatement, UnionType};
use sea_orm::{Condition, DatabaseBackend, Iterable};
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::graphql::disclosure::{self, Time};
use crate::graphql::loaders;
use crate::graphql::types::case::CaseFilter;
use crate::graphql::types::db;
use crate::graphql::types::organisation::Organisation;
use crate::graphql::types::outcome::OutcomeFilter;
use crate::graphql::types::programme::{Programme, ProgrammeFilter};
use crate::graphql::types::referral::ReferralFilter;
use crate::graphql::types::region::Region;
use crate::graphql::types::stats::{
    CaseDimension, CaseStats, CaseStatsGroup, CaseStatsKey, KelurahanCoverage, OutcomeDimension, OutcomeStats,
    OutcomeStatsGroup, OutcomeStatsKey, ProgrammeDimension, ProgrammeStats, ProgrammeStatsGroup, ProgrammeStatsKey,
    ReferralDimension, ReferralStats, ReferralStatsGroup, ReferralStatsKey, StatsPeriod, TenureBand,
    VolunteerDimension, VolunteerStats, VolunteerStatsGroup, VolunteerStatsKey,
};
use crate::graphql::types::volunteer::Volunteer;
use crate::graphql::types::volunteer::VolunteerFilter;
use crate::service::scope::Scoped;
use crate::service::statistics::{
    self, Bucket, Count, Fact, Published, PublishedGroup, Ranked, Settings, days_between, percentile, uuid_text,
};
use crate::service::suppression::{Equation, Hidden, suppress};
use crate::service::tallies::{self, CaseTally, Needs};

mod cases;
mod coverage;
mod outcomes;
mod programmes;
mod referrals;
mod volunteers;

use cases::*;
use coverage::*;
use outcomes::*;
use programmes::*;
use referrals::*;
use volunteers::*;

#[derive(Default)]
pub struct StatsQuery;

#[Object]
impl StatsQuery {
    /// Case counts (all, open, closed, closure rate, median and 90th percentile days to close) for the
    /// cases matching `filter`, grouped by up to two dimensions, computed in one SQL statement. Unless
    /// exact, every count is perturbed by a small adjustment fixed by the cases it counts, perturbed
    /// counts from 1 to `minimumCellSize - 1` are suppressed (see `Cell`), and instants must be whole
    /// days in the city's time zone. Time dimensions need a `period`, and return every bucket in it,
    /// zeros included.
    async fn case_stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "STAFF only: exact figures, nothing perturbed or suppressed (`minimumCellSize` then reads 1). Other keys get FORBIDDEN.",
            default
        )]
        exact: bool,
        #[graphql(
            desc = "Which cases to count; the same filter as `cases`. Unless exact: no `referenceNumber`, instants at midnight in the city, and `reportingVolunteerId` only for keys that read volunteers."
        )]
        filter: Option<CaseFilter>,
        #[graphql(desc = "Up to two dimensions to group by (at most one of them a time dimension).", default)]
        group_by: Vec<CaseDimension>,
        #[graphql(
            desc = "The span a time dimension covers; required with one, and it also limits the cases counted. Unless exact, both ends are midnights in the city."
        )]
        period: Option<StatsPeriod>,
        #[graphql(
            desc = "Figures as they stood at this past instant: cases opened by then, each in the status its history gives it then. Reproduces a published figure however the cases changed since. Unless exact, a midnight in the city. Default: now."
        )]
        as_of: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<CaseStats> {
        disclosure::audited(ctx, exact, async {
            let instant = statistics::as_of(as_of)?;
            let mut settings = disclosure::settings(ctx, exact)?;
            settings.tallies = settings.tallies && tallies::readable(db(ctx)?, settings.offset).await?;
            disclosure::check_inputs(&settings, &[&filter, &Time { as_of, period }])?;
            if group_by.contains(&CaseDimension::ReportingVolunteer) {
                disclosure::require_volunteer_rows(ctx, "group by REPORTING_VOLUNTEER")?;
            }
            if filter.as_ref().is_some_and(|filter| filter.reporting_volunteer_id.is_some()) {
                disclosure::require_volunteer_rows(ctx, "filter by `reportingVolunteerId`")?;
            }
            // Statistics count the rows the caller's figures may count (city-wide), and filters match
            // through them; the figures leave only through disclosure control.
            let counting = crate::graphql::guard::scoped(ctx)?.counting();
            let filter = filter.unwrap_or_default();
            let durations = selected(ctx, &["medianDaysToClose", "p90DaysToClose"]);
            let tally = case_tally(&settings, &counting, &filter, &group_by, period.as_ref(), as_of, durations);
            let condition = filter.condition(&counting)?.add(counting.condition::<entity::case::Entity>());
            let fact = CaseFact { as_of, durations, tally };
            let published =
                statistics::run(db(ctx)?, &fact, &group_by, period.map(Into::into), condition, &settings).await?;
            disclosure::charge(ctx, published.cells).await?;
            let Published { total, groups, cells } = published;
            // Keys are resolved together, so that their loaders batch them: one statement per kind of key.
            let keys = try_join_all(groups.iter().map(|group| case_key(ctx, &group_by, group))).await?;
            let shaped = groups.into_iter().zip(keys).map(|(group, key)| case_group(group, key)).collect();
            let stats = CaseStats {
                minimum_cell_size: settings.minimum_cell_size as i32,
                as_of: instant,
                total: case_group(total, CaseStatsKey::default()),
                groups: shaped,
            };
            Ok((stats, cells))
        })
        .await
    }

    /// Referral counts (the funnel: sent, pending, accepted, declined, completed, withdrawn, expired),
    /// acceptance rate and median hours to respond and to complete, for the referrals matching `filter`,
    /// grouped by up to two dimensions in one SQL statement, published as in `caseStats`.
    async fn referral_stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "STAFF only: exact figures, nothing perturbed or suppressed (`minimumCellSize` then reads 1). Other keys get FORBIDDEN.",
            default
        )]
        exact: bool,
        #[graphql(
            desc = "Which referrals to count; the same filter as `referrals`. Unless exact: no `caseId`, and instants at midnight in the city."
        )]
        filter: Option<ReferralFilter>,
        #[graphql(desc = "Up to two dimensions to group by (at most one of them a time dimension).", default)]
        group_by: Vec<ReferralDimension>,
        #[graphql(
            desc = "The span a time dimension covers; required with one, and it also limits the referrals counted. Unless exact, both ends are midnights in the city."
        )]
        period: Option<StatsPeriod>,
        #[graphql(
            desc = "Figures as they stood at this past instant, from the referrals' event log: referrals sent by then, each in the status (and with the reason) of its last event by then; answers and completions after it do not count, and the median hours use only events up to it. Filters on status and reason apply to that status and reason; the other fields are today's. Unless exact, a midnight in the city. Default: now."
        )]
        as_of: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<ReferralStats> {
        disclosure::audited(ctx, exact, async {
            let instant = statistics::as_of(as_of)?;
            let mut settings = disclosure::settings(ctx, exact)?;
            disclosure::check_inputs(&settings, &[&filter, &Time { as_of, period }])?;
            settings.tallies = settings.tallies && tallies::readable(db(ctx)?, settings.offset).await?;
            let counting = crate::graphql::guard::scoped(ctx)?.counting();
            let filter = filter.unwrap_or_default();
            let condition = filter.condition(&counting)?.add(counting.condition::<entity::referral::Entity>());
            let durations = selected(ctx, &["medianHoursToRespond", "medianHoursToComplete"]);
            let tally = referral_tally(&settings, &counting, &filter, &group_by, period.as_ref(), as_of, durations);
            let fact = ReferralFact { as_of, durations, tally };
            let published =
                statistics::run(db(ctx)?, &fact, &group_by, period.map(Into::into), condition, &settings).await?;
            disclosure::charge(ctx, published.cells).await?;
            let Published { total, groups, cells } = published;
            let keys = try_join_all(groups.iter().map(|group| referral_key(ctx, &group_by, group))).await?;
            let shaped = groups.into_iter().zip(keys).map(|(group, key)| referral_group(group, key)).collect();
            let stats = ReferralStats {
                minimum_cell_size: settings.minimum_cell_size as i32,
                as_of: instant,
                total: referral_group(total, ReferralStatsKey::default()),
                groups: shaped,
            };
            Ok((stats, cells))
        })
        .await
    }

    /// Outcome counts (all, by outcome group, verified) and the share verified, for the outcomes matching
    /// `filter`, grouped by up to two dimensions in one SQL statement, published as in `caseStats`.
    /// Counts by outcome type come from grouping by TYPE.
    async fn outcome_stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "STAFF only: exact figures, nothing perturbed or suppressed (`minimumCellSize` then reads 1). Other keys get FORBIDDEN.",
            default
        )]
        exact: bool,
        #[graphql(
            desc = "Which outcomes to count; the same filter as `outcomes`. Unless exact: no `caseId`, and instants at midnight in the city."
        )]
        filter: Option<OutcomeFilter>,
        #[graphql(desc = "Up to two dimensions to group by (at most one of them a time dimension).", default)]
        group_by: Vec<OutcomeDimension>,
        #[graphql(
            desc = "The span a time dimension covers (on `recordedAt`); required with one, and it also limits the outcomes counted. Unless exact, both ends are midnights in the city."
        )]
        period: Option<StatsPeriod>,
        #[graphql(
            desc = "Figures as they stood at this past instant: outcomes recorded, and entered in the system, by then; verified only if verified by then. Outcome type, group, case and programme are today's. Unless exact, a midnight in the city. Default: now."
        )]
        as_of: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<OutcomeStats> {
        disclosure::audited(ctx, exact, async {
            let instant = statistics::as_of(as_of)?;
            let settings = disclosure::settings(ctx, exact)?;
            disclosure::check_inputs(&settings, &[&filter, &Time { as_of, period }])?;
            let counting = crate::graphql::guard::scoped(ctx)?.counting();
            let condition =
                filter.unwrap_or_default().condition(&counting)?.add(counting.condition::<entity::outcome::Entity>());
            let fact = OutcomeFact { as_of };
            let published =
                statistics::run(db(ctx)?, &fact, &group_by, period.map(Into::into), condition, &settings).await?;
            disclosure::charge(ctx, published.cells).await?;
            let Published { total, groups, cells } = published;
            let keys = outcome_keys(ctx, &group_by, &groups).await?;
            let shaped = groups.into_iter().zip(keys).map(|(group, key)| outcome_group(group, key)).collect();
            let stats = OutcomeStats {
                minimum_cell_size: settings.minimum_cell_size as i32,
                as_of: instant,
                total: outcome_group(total, OutcomeStatsKey::default()),
                groups: shaped,
            };
            Ok((stats, cells))
        })
        .await
    }

    /// Programme figures: cases enrolled, target, reach (enrolled / target), the outcomes the programmes
    /// delivered by outcome group, and budget (IDR), for the programmes matching `filter`, grouped by up
    /// to two dimensions in one SQL statement. Enrollment and outcome counts are published as in
    /// `caseStats`; targets and budgets count no people and are published as they are. Each programme's
    /// target and budget count once, however many enrollments and outcomes it has.
    async fn programme_stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "STAFF only: exact figures, nothing perturbed or suppressed (`minimumCellSize` then reads 1). Other keys get FORBIDDEN.",
            default
        )]
        exact: bool,
        #[graphql(desc = "Which programmes to count; the same filter as `programmes`.")] filter: Option<
            ProgrammeFilter,
        >,
        #[graphql(desc = "Up to two dimensions to group by (at most one of them a time dimension).", default)]
        group_by: Vec<ProgrammeDimension>,
        #[graphql(
            desc = "The span a time dimension covers (on the programmes' start day, in the city's time zone); required with one, and it also limits the programmes counted. Unless exact, both ends are midnights in the city."
        )]
        period: Option<StatsPeriod>,
    ) -> async_graphql::Result<ProgrammeStats> {
        disclosure::audited(ctx, exact, async {
            let settings = disclosure::settings(ctx, exact)?;
            disclosure::check_inputs(&settings, &[&filter, &Time { as_of: None, period }])?;
            let counting = crate::graphql::guard::scoped(ctx)?.counting();
            let condition =
                filter.unwrap_or_default().condition(&counting)?.add(counting.condition::<entity::programme::Entity>());
            let db = db(ctx)?;
            let fact = ProgrammeFact {
                backend: db.get_database_backend(),
                offset_hours: settings.offset.local_minus_utc() / 3600,
            };
            let published = statistics::run(db, &fact, &group_by, period.map(Into::into), condition, &settings).await?;
            let Published { total, groups, .. } = published;
            // Programmes themselves belong to no district: their rows form a group without a district,
            // with no enrollment or outcome in it, which is not published.
            let by_district = group_by.iter().position(|d| *d == ProgrammeDimension::District);
            let groups: Vec<PublishedGroup> = groups
                .into_iter()
                .filter(|group| match by_district {
                    Some(0) => group.key.0.is_some(),
                    Some(_) => group.key.1.is_some(),
                    None => true,
                })
                .collect();
            let cells = (groups.len() as u64 + 1) * total.cells.len() as u64;
            disclosure::charge(ctx, cells).await?;
            let keys = programme_keys(ctx, &group_by, &groups).await?;
            let split = by_district.is_some();
            let shaped = groups.into_iter().zip(keys).map(|(group, key)| programme_group(group, key, split)).collect();
            let stats = ProgrammeStats {
                minimum_cell_size: settings.minimum_cell_size as i32,
                as_of: Utc::now(),
                total: programme_group(total, ProgrammeStatsKey::default(), false),
                groups: shaped,
            };
            Ok((stats, cells))
        })
        .await
    }

    /// Volunteer counts (on record, active, recently trained, cases reported) for the volunteers matching
    /// `filter`, grouped by up to two dimensions in one SQL statement, published as in `caseStats`.
    async fn volunteer_stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "STAFF only: exact figures, nothing perturbed or suppressed (`minimumCellSize` then reads 1). Other keys get FORBIDDEN.",
            default
        )]
        exact: bool,
        #[graphql(desc = "Which volunteers to count; the same filter as `volunteers`.")] filter: Option<
            VolunteerFilter,
        >,
        #[graphql(desc = "Up to two dimensions to group by.", default)] group_by: Vec<VolunteerDimension>,
        #[graphql(
            desc = "An active volunteer counts as trained after a training within this many months.",
            default = 24
        )]
        trained_within_months: u32,
    ) -> async_graphql::Result<VolunteerStats> {
        disclosure::audited(ctx, exact, async {
            let settings = disclosure::settings(ctx, exact)?;
            disclosure::check_inputs(&settings, &[&filter])?;
            let today = crate::graphql::types::city_today(ctx)?;
            let trained_since = today
                .checked_sub_months(chrono::Months::new(trained_within_months))
                .ok_or_else(|| AppError::bad_input("trainedWithinMonths", "too many months"))?;
            let counting = crate::graphql::guard::scoped(ctx)?.counting();
            let condition =
                filter.unwrap_or_default().condition(&counting)?.add(counting.condition::<entity::volunteer::Entity>());
            let fact = VolunteerFact { today, trained_since };
            let published = statistics::run(db(ctx)?, &fact, &group_by, None, condition, &settings).await?;
            disclosure::charge(ctx, published.cells).await?;
            let Published { total, groups, cells } = published;
            let keys = try_join_all(groups.iter().map(|group| volunteer_key(ctx, &group_by, group))).await?;
            let shaped = groups.into_iter().zip(keys).map(|(group, key)| volunteer_group(group, key)).collect();
            let stats = VolunteerStats {
                minimum_cell_size: settings.minimum_cell_size as i32,
                as_of: Utc::now(),
                total: volunteer_group(total, VolunteerStatsKey::default()),
                groups: shaped,
            };
            Ok((stats, cells))
        })
        .await
    }

    /// Every kelurahan with its active PSM volunteers and its open cases, in code order, in one SQL
    /// statement. Unless exact, both counts are perturbed and suppressed as in `caseStats`, and audited
    /// against their city-wide totals; a 0 then means no active volunteer or very few.
    async fn volunteer_coverage(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "STAFF only: exact figures, nothing perturbed or suppressed (`minimumCellSize` then reads 1). Other keys get FORBIDDEN.",
            default
        )]
        exact: bool,
    ) -> async_graphql::Result<Vec<KelurahanCoverage>> {
        disclosure::audited(ctx, exact, async {
            let mut settings = disclosure::settings(ctx, exact)?;
            settings.tallies = settings.tallies && tallies::readable(db(ctx)?, settings.offset).await?;
            let coverage = coverage(ctx, &settings).await?;
            let cells = coverage.len() as u64 * 2;
            disclosure::charge(ctx, cells).await?;
            Ok((coverage, cells))
        })
        .await
    }
}

/// Whether any of `fields` is selected on `total` or `groups`: percentiles sort every group's rows, so
/// they are computed only when asked for.
fn selected(ctx: &Context<'_>, fields: &[&str]) -> bool {
    let look_ahead = ctx.look_ahead();
    ["total", "groups"].iter().any(|part| fields.iter().any(|field| look_ahead.field(part).field(field).exists()))
}

async fn region(ctx: &Context<'_>, code: String) -> AppResult<Option<Region>> {
    Ok(loaders::row::<region::Entity>(ctx, code).await?.map(Region))
}

async fn organisation(ctx: &Context<'_>, id: &str) -> AppResult<Option<Organisation>> {
    let id = Uuid::parse_str(id).map_err(|_| AppError::Internal(format!("unexpected organisation id {id}")))?;
    Ok(loaders::row::<organisation::Entity>(ctx, id).await?.map(Organisation))
}

/// Numbers the rows of a history `table` per `parent`, 1 for the latest by `at` (ties broken by id).
fn newest_first(table: &str, parent: &str, at: &str) -> Expr {
    Expr::cust(format!(
        "ROW_NUMBER() OVER (PARTITION BY \"{table}\".\"{parent}\" ORDER BY \"{table}\".\"{at}\" DESC, \"{table}\".\"id\" DESC)"
    ))
}

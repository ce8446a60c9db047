//! Root fields for aggregate statistics: `caseStats`, `referralStats`, `outcomeStats`, `programmeStats`
//! and `volunteerStats`, each one grouped SQL statement run through the
//! [`aggregate`](crate::graphql::aggregate) engine, published through disclosure control unless STAFF
//! ask for exact figures; and `volunteerCoverage`. The request side of disclosure control (inputs,
//! budget, audit) is [`disclosure`](crate::graphql::disclosure).

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
use crate::graphql::aggregate::{
    self, Bucket, Count, Fact, Published, PublishedGroup, Settings, days_between, percentile, uuid_text,
};
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
    CaseDimension, CaseStats, CaseStatsGroup, CaseStatsKey, Cell, KelurahanCoverage, OutcomeDimension, OutcomeStats,
    OutcomeStatsGroup, OutcomeStatsKey, ProgrammeDimension, ProgrammeStats, ProgrammeStatsGroup, ProgrammeStatsKey,
    ReferralDimension, ReferralStats, ReferralStatsGroup, ReferralStatsKey, StatsPeriod, TenureBand,
    VolunteerDimension, VolunteerStats, VolunteerStatsGroup, VolunteerStatsKey,
};
use crate::graphql::types::volunteer::Volunteer;
use crate::graphql::types::volunteer::VolunteerFilter;
use crate::service::scope::Scoped;
use crate::service::suppression::{Equation, Hidden, suppress};
use crate::service::tallies::{CaseTally, Needs};

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
            let instant = aggregate::as_of(as_of)?;
            let settings = disclosure::settings(ctx, exact)?;
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
            let published = aggregate::run(db(ctx)?, &fact, &group_by, period, condition, &settings).await?;
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
            let instant = aggregate::as_of(as_of)?;
            let settings = disclosure::settings(ctx, exact)?;
            disclosure::check_inputs(&settings, &[&filter, &Time { as_of, period }])?;
            let counting = crate::graphql::guard::scoped(ctx)?.counting();
            let condition =
                filter.unwrap_or_default().condition(&counting)?.add(counting.condition::<entity::referral::Entity>());
            let durations = selected(ctx, &["medianHoursToRespond", "medianHoursToComplete"]);
            let fact = ReferralFact { as_of, durations };
            let published = aggregate::run(db(ctx)?, &fact, &group_by, period, condition, &settings).await?;
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
            let instant = aggregate::as_of(as_of)?;
            let settings = disclosure::settings(ctx, exact)?;
            disclosure::check_inputs(&settings, &[&filter, &Time { as_of, period }])?;
            let counting = crate::graphql::guard::scoped(ctx)?.counting();
            let condition =
                filter.unwrap_or_default().condition(&counting)?.add(counting.condition::<entity::outcome::Entity>());
            let fact = OutcomeFact { as_of };
            let published = aggregate::run(db(ctx)?, &fact, &group_by, period, condition, &settings).await?;
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
            let published = aggregate::run(db, &fact, &group_by, period, condition, &settings).await?;
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
            let published = aggregate::run(db(ctx)?, &fact, &group_by, None, condition, &settings).await?;
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
            let settings = disclosure::settings(ctx, exact)?;
            let coverage = coverage(ctx, &settings).await?;
            let cells = coverage.len() as u64 * 2;
            disclosure::charge(ctx, cells).await?;
            Ok((coverage, cells))
        })
        .await
    }
}

/// The rows of `volunteerCoverage`: each count is grouped once over its table (open cases from
/// the case tally, or the cases), then joined to the 52 kelurahan, so that kelurahan without volunteers or open cases
/// appear with 0; the sums of record keys come in the same statement.
async fn coverage(ctx: &Context<'_>, settings: &Settings) -> AppResult<Vec<KelurahanCoverage>> {
    let db = db(ctx)?;
    let open: Vec<String> = entity::enums::CaseStatus::ALL
        .iter()
        .filter(|status| **status != entity::enums::CaseStatus::Closed)
        .map(|status| format!("'{}'", status.as_str()))
        .collect();
    // Open cases by kelurahan are in the case tally (every case counts here, whoever asks).
    let open_cases = if settings.tallies {
        "CAST(SUM(\"n\") AS BIGINT) AS \"n\", CAST(SUM(\"key_sum\") AS BIGINT) AS \"k\" FROM \"case_tallies\""
    } else {
        "COUNT(*) AS \"n\", CAST(SUM(\"record_key\") AS BIGINT) AS \"k\" FROM \"cases\""
    };
    let sql = format!(
        "SELECT \"r\".\"code\", \"r\".\"level\", \"r\".\"name\", \"r\".\"parent_code\", \
                COALESCE(\"v\".\"n\", 0) AS \"active\", COALESCE(\"v\".\"k\", 0) AS \"active_key\", \
                COALESCE(\"c\".\"n\", 0) AS \"open\", COALESCE(\"c\".\"k\", 0) AS \"open_key\" \
         FROM \"regions\" AS \"r\" \
         LEFT JOIN (SELECT \"kelurahan_code\", COUNT(*) AS \"n\", CAST(SUM(\"record_key\") AS BIGINT) AS \"k\" \
                    FROM \"volunteers\" WHERE \"status\" = 'ACTIVE' \
                    GROUP BY \"kelurahan_code\") AS \"v\" ON \"v\".\"kelurahan_code\" = \"r\".\"code\" \
         LEFT JOIN (SELECT \"kelurahan_code\", {open_cases} \
                    WHERE \"status\" IN ({statuses}) \
                    GROUP BY \"kelurahan_code\") AS \"c\" ON \"c\".\"kelurahan_code\" = \"r\".\"code\" \
         WHERE \"r\".\"level\" = 'SUBDISTRICT' ORDER BY \"r\".\"code\"",
        statuses = open.join(", ")
    );
    let statement = sea_orm::Statement::from_string(db.get_database_backend(), sql);
    let rows = sea_orm::ConnectionTrait::query_all_raw(db, statement).await.map_err(AppError::from)?;
    // The kelurahan come with their counts: no second statement to load them.
    let disclosure = settings.disclosure.as_ref();
    let mut places = Vec::with_capacity(rows.len());
    let (mut counts, mut keys, mut published): (Vec<u64>, Vec<i64>, Vec<u64>) = Default::default();
    for row in rows {
        places.push(<region::Model as sea_orm::FromQueryResult>::from_query_result(&row, "").map_err(AppError::from)?);
        for column in ["active", "open"] {
            let count = std::cmp::max(row.try_get::<i64>("", column).map_err(AppError::from)?, 0) as u64;
            let key = row.try_get::<i64>("", &format!("{column}_key")).map_err(AppError::from)?;
            counts.push(count);
            keys.push(key);
            published.push(disclosure.map_or(count, |d| d.perturb(count, key)));
        }
    }
    // Each column adds up to a city-wide total that other requests publish (perturbed by its own key).
    let mut equations = Vec::new();
    for column in 0..2 {
        let parts: Vec<usize> = (0..places.len()).map(|i| i * 2 + column).collect();
        let count: u64 = parts.iter().map(|&i| counts[i]).sum();
        let key: i64 = parts.iter().map(|&i| keys[i]).sum();
        published.push(disclosure.map_or(count, |d| d.perturb(count, key)));
        equations.push(Equation { whole: published.len() - 1, parts });
    }
    let hidden: Vec<bool> = match disclosure {
        Some(d) => suppress(&published, &equations, settings.minimum_cell_size, d.table.as_ref())
            .into_iter()
            .map(|hidden| hidden != Hidden::No)
            .collect(),
        None => vec![false; published.len()],
    };
    let mut coverage = Vec::with_capacity(places.len());
    for (i, kelurahan) in places.into_iter().map(Region).enumerate() {
        let (active, open) = (i * 2, i * 2 + 1);
        coverage.push(KelurahanCoverage {
            kelurahan,
            active_volunteers: Cell::new(published[active], hidden[active]),
            open_cases: Cell::new(published[open], hidden[open]),
            open_cases_per_active_volunteer: (!hidden[active] && !hidden[open] && published[active] > 0)
                .then(|| published[open] as f64 / published[active] as f64),
        });
    }
    Ok(coverage)
}

/// Whether any of `fields` is selected on `total` or `groups`: percentiles sort every group's rows, so
/// they are computed only when asked for.
fn selected(ctx: &Context<'_>, fields: &[&str]) -> bool {
    let look_ahead = ctx.look_ahead();
    ["total", "groups"].iter().any(|part| fields.iter().any(|field| look_ahead.field(part).field(field).exists()))
}

/// Cases, optionally as they stood at a past instant.
struct CaseFact {
    as_of: Option<DateTime<Utc>>,
    /// Whether the percentiles of days to close are wanted.
    durations: bool,
    /// The tally read instead of the cases, when one holds the request (see [`case_tally`]).
    tally: Option<CaseTally>,
}

/// The tally that answers a case statistics request exactly, if one does: figures of today (no
/// `asOf`), no percentiles (a tally holds counts, not durations), a caller who counts every case, a
/// filter on fields the tally holds, and opening instants (period, `filter.opened`) at whole days, as
/// the day tally holds them. Anything else counts the cases.
fn case_tally(
    settings: &Settings,
    counting: &Scoped,
    filter: &CaseFilter,
    group_by: &[CaseDimension],
    period: Option<&StatsPeriod>,
    as_of: Option<DateTime<Utc>>,
    durations: bool,
) -> Option<CaseTally> {
    if !settings.tallies || as_of.is_some() || durations || !counting.counts_all::<case::Entity>() {
        return None;
    }
    // Every field named: a new filter field must be decided on here before it compiles.
    let CaseFilter {
        status: _,
        district_codes: _,
        kelurahan_codes: _,
        categories,
        opened,
        closed,
        updated_since,
        urgency,
        source,
        reporting_volunteer_id,
        programme_id,
        referred_to_organisation_id,
        reference_number,
    } = filter;
    // A category filter keeps cases carrying any of the categories, once each: no tally holds that.
    if categories.is_some()
        || closed.is_some()
        || updated_since.is_some()
        || reporting_volunteer_id.is_some()
        || programme_id.is_some()
        || referred_to_organisation_id.is_some()
        || reference_number.is_some()
    {
        return None;
    }
    let whole_days = |instants: &[Option<DateTime<Utc>>]| {
        instants.iter().flatten().all(|instant| disclosure::whole_day(*instant, settings.offset))
    };
    let mut needs = Needs { urgency_or_source: urgency.is_some() || source.is_some(), ..Needs::default() };
    // A period bounds the opening instants, with or without a time dimension.
    if let Some(period) = period {
        needs.opening_day = true;
        if !whole_days(&[Some(period.from), Some(period.before)]) {
            return None;
        }
    }
    if let Some(range) = opened {
        needs.opening_day = true;
        if !whole_days(&[range.from, range.before]) {
            return None;
        }
    }
    for dimension in group_by {
        match dimension {
            CaseDimension::District | CaseDimension::Kelurahan | CaseDimension::Status => {}
            CaseDimension::Category => needs.category = true,
            CaseDimension::Urgency | CaseDimension::Source => needs.urgency_or_source = true,
            CaseDimension::ReportingVolunteer | CaseDimension::Programme => return None,
            CaseDimension::OpenedDay
            | CaseDimension::OpenedWeek
            | CaseDimension::OpenedMonth
            | CaseDimension::OpenedQuarter
            | CaseDimension::OpenedYear => {
                // Grouping by time needs a period, checked above.
                needs.opening_day = true;
            }
        }
    }
    CaseTally::for_needs(needs)
}

const CLOSED: &str = "\"cases\".\"status\" = 'CLOSED'";

impl Fact for CaseFact {
    type Dimension = CaseDimension;

    /// A tally is read under the name `cases`, its columns named as the cases' own, so that filters and
    /// dimensions apply to it unchanged.
    fn source(&self, select: &mut SelectStatement) {
        match (self.tally, self.as_of) {
            (Some(tally), _) => select.from_as(Alias::new(tally.table()), case::Entity),
            (None, Some(instant)) => select.from_subquery(cases_as_of(instant), case::Entity),
            (None, None) => select.from(case::Entity),
        };
    }

    /// The category tally holds a case once per category; its total counts the cases' tally, which
    /// holds every field a category request may filter by.
    fn total_source(&self, select: &mut SelectStatement) {
        match self.tally {
            Some(CaseTally::Categories) => {
                select.from_as(Alias::new(CaseTally::Cases.table()), case::Entity);
            }
            _ => self.source(select),
        }
    }

    fn time_column(&self) -> &'static str {
        "\"cases\".\"opened_at\""
    }

    fn bucket(&self, dimension: CaseDimension) -> Option<Bucket> {
        match dimension {
            CaseDimension::OpenedDay => Some(Bucket::Day),
            CaseDimension::OpenedWeek => Some(Bucket::Week),
            CaseDimension::OpenedMonth => Some(Bucket::Month),
            CaseDimension::OpenedQuarter => Some(Bucket::Quarter),
            CaseDimension::OpenedYear => Some(Bucket::Year),
            _ => None,
        }
    }

    fn dimension(&self, dimension: CaseDimension, backend: DatabaseBackend) -> Expr {
        match dimension {
            // A kelurahan code starts with its kecamatan's: 63.71.01.1001 lies in 63.71.01.
            CaseDimension::District => Expr::cust("substr(\"cases\".\"kelurahan_code\", 1, 8)"),
            CaseDimension::Kelurahan => Expr::col((case::Entity, case::Column::KelurahanCode)),
            CaseDimension::Category if self.tally.is_some() => Expr::cust("\"cases\".\"category\""),
            CaseDimension::Category => Expr::col((case_category::Entity, case_category::Column::Category)),
            CaseDimension::Status => Expr::col((case::Entity, case::Column::Status)),
            CaseDimension::Urgency => Expr::col((case::Entity, case::Column::Urgency)),
            CaseDimension::Source => Expr::col((case::Entity, case::Column::Source)),
            CaseDimension::ReportingVolunteer => uuid_text(backend, "\"cases\".\"reporting_volunteer_id\""),
            CaseDimension::Programme => uuid_text(backend, "\"enrollments\".\"programme_id\""),
            // Time dimensions are the engine's; this arm is never asked for.
            _ => Expr::cust("NULL"),
        }
    }

    fn additive(&self, dimension: CaseDimension) -> bool {
        !matches!(dimension, CaseDimension::Category | CaseDimension::Programme)
    }

    fn join(&self, dimensions: &[CaseDimension], select: &mut SelectStatement) {
        if self.tally.is_some() {
            return;
        }
        if dimensions.contains(&CaseDimension::Category) {
            select.join(
                JoinType::InnerJoin,
                case_category::Entity,
                Expr::col((case_category::Entity, case_category::Column::CaseId))
                    .equals((case::Entity, case::Column::Id)),
            );
        }
        if dimensions.contains(&CaseDimension::Programme) {
            select.join(
                JoinType::InnerJoin,
                enrollment::Entity,
                Expr::col((enrollment::Entity, enrollment::Column::CaseId)).equals((case::Entity, case::Column::Id)),
            );
        }
    }

    fn record_key(&self) -> &'static str {
        "\"cases\".\"record_key\""
    }

    fn counts(&self) -> Vec<(&'static str, Count)> {
        const OPEN: &str = "\"cases\".\"status\" <> 'CLOSED'";
        if self.tally.is_some() {
            return vec![("n", tallied(None)), ("open", tallied(Some(OPEN))), ("closed", tallied(Some(CLOSED)))];
        }
        vec![("n", Count::All), ("open", Count::When(OPEN.into())), ("closed", Count::When(CLOSED.into()))]
    }

    fn relations(&self) -> Vec<(usize, Vec<usize>)> {
        vec![(0, vec![1, 2])]
    }

    fn durations(&self, backend: DatabaseBackend) -> Vec<(&'static str, Expr, usize)> {
        if !self.durations {
            return Vec::new();
        }
        let days = days_between(backend, "\"cases\".\"opened_at\"", "\"cases\".\"closed_at\"");
        vec![
            ("median_days", percentile(backend, &days, CLOSED, 0.5), 2),
            ("p90_days", percentile(backend, &days, CLOSED, 0.9), 2),
        ]
    }
}

/// A count over tally rows (where `when` holds): the sum of their counts, with the sum of their key sums.
fn tallied(when: Option<&str>) -> Count {
    let sum = |column: &str| match when {
        Some(when) => format!("CAST(SUM(CASE WHEN {when} THEN \"cases\".\"{column}\" ELSE 0 END) AS BIGINT)"),
        None => format!("CAST(SUM(\"cases\".\"{column}\") AS BIGINT)"),
    };
    Count::Custom { count: sum("n"), key: sum("key_sum") }
}

fn case_group(group: PublishedGroup, key: CaseStatsKey) -> CaseStatsGroup {
    CaseStatsGroup {
        key,
        count: group.cells[0],
        open: group.cells[1],
        closed: group.cells[2],
        closure_rate: group.share(&[2], &[0]),
        median_days_to_close: group.duration(0),
        p90_days_to_close: group.duration(1),
    }
}

async fn case_key(ctx: &Context<'_>, dimensions: &[CaseDimension], group: &PublishedGroup) -> AppResult<CaseStatsKey> {
    use entity::enums as db;
    let mut key = CaseStatsKey::default();
    for (dimension, value) in dimensions.iter().zip([&group.key.0, &group.key.1]) {
        let Some(value) = value.clone() else { continue };
        let unknown = || AppError::Internal(format!("unexpected {dimension:?} value {value}"));
        match dimension {
            CaseDimension::District => key.district = region(ctx, value.clone()).await?,
            CaseDimension::Kelurahan => key.kelurahan = region(ctx, value.clone()).await?,
            CaseDimension::Category => key.category = Some(db::PpksCategory::parse(&value).ok_or_else(unknown)?.into()),
            CaseDimension::Status => key.status = Some(db::CaseStatus::parse(&value).ok_or_else(unknown)?.into()),
            CaseDimension::Urgency => key.urgency = Some(db::Urgency::parse(&value).ok_or_else(unknown)?.into()),
            CaseDimension::Source => key.source = Some(db::CaseSource::parse(&value).ok_or_else(unknown)?.into()),
            CaseDimension::ReportingVolunteer => {
                let id = Uuid::parse_str(&value).map_err(|_| unknown())?;
                key.reporting_volunteer = loaders::row::<volunteer::Entity>(ctx, id).await?.map(Volunteer);
            }
            CaseDimension::Programme => {
                let id = Uuid::parse_str(&value).map_err(|_| unknown())?;
                key.programme = loaders::row::<programme::Entity>(ctx, id).await?.map(Programme);
            }
            _ => key.period = Some(value),
        }
    }
    Ok(key)
}

async fn region(ctx: &Context<'_>, code: String) -> AppResult<Option<Region>> {
    Ok(loaders::row::<region::Entity>(ctx, code).await?.map(Region))
}

async fn organisation(ctx: &Context<'_>, id: &str) -> AppResult<Option<Organisation>> {
    let id = Uuid::parse_str(id).map_err(|_| AppError::Internal(format!("unexpected organisation id {id}")))?;
    Ok(loaders::row::<organisation::Entity>(ctx, id).await?.map(Organisation))
}

/// The cases as they stood at `instant`: those opened by then, with the status and closing instant of
/// their last status change up to then. Other fields are today's.
///
/// The last change of each case comes from one derived table (a window function over the changes up to
/// then), joined once, as in [`referrals_as_of`]: correlated subqueries would run again for each of the
/// many references the counts make to the status.
fn cases_as_of(instant: DateTime<Utc>) -> SelectStatement {
    let (c, last) = (Alias::new("c"), Alias::new("last_change"));
    let mut latest = Query::select();
    latest
        .column(case_status_change::Column::CaseId)
        .column(case_status_change::Column::ToStatus)
        .column(case_status_change::Column::ChangedAt)
        .expr_as(newest_first("case_status_changes", "case_id", "changed_at"), "position")
        .from(case_status_change::Entity)
        .and_where(Expr::col((case_status_change::Entity, case_status_change::Column::ChangedAt)).lte(instant));
    let to_status = Expr::col((last.clone(), case_status_change::Column::ToStatus));
    let mut select = Query::select();
    select.from_as(case::Entity, c.clone());
    for column in case::Column::iter() {
        match column {
            case::Column::Status => {
                select.expr_as(to_status.clone(), column);
            }
            case::Column::ClosedAt => {
                let changed_at = Expr::col((last.clone(), case_status_change::Column::ChangedAt));
                select.expr_as(
                    Expr::case(to_status.clone().eq("CLOSED"), changed_at).finally(Expr::cust("NULL")),
                    column,
                );
            }
            _ => {
                select.column((c.clone(), column));
            }
        }
    }
    select
        .join_subquery(
            JoinType::LeftJoin,
            latest,
            last.clone(),
            Condition::all()
                .add(
                    Expr::col((last.clone(), case_status_change::Column::CaseId)).equals((c.clone(), case::Column::Id)),
                )
                .add(Expr::col((last, "position")).eq(1)),
        )
        .and_where(Expr::col((c, case::Column::OpenedAt)).lte(instant));
    select
}

/// Numbers the rows of a history `table` per `parent`, 1 for the latest by `at` (ties broken by id).
fn newest_first(table: &str, parent: &str, at: &str) -> Expr {
    Expr::cust(format!(
        "ROW_NUMBER() OVER (PARTITION BY \"{table}\".\"{parent}\" ORDER BY \"{table}\".\"{at}\" DESC, \"{table}\".\"id\" DESC)"
    ))
}

/// The referrals as they stood at `instant`, from their event log: those sent by then, with the status and
/// reason of their last event up to then, and the instants of their first answer and of their completion
/// up to then. Other fields are today's.
///
/// The events are read in two joined derived tables (the last event of each referral by a window
/// function, the answer and completion instants by grouping) rather than in correlated subqueries:
/// PostgreSQL would run such a subquery again for every reference to its column, and the counts refer to
/// the status many times (3.4 s against 0.4 s on the 100,000-case demo set).
fn referrals_as_of(instant: DateTime<Utc>) -> SelectStatement {
    let (r, last, answers) = (Alias::new("r"), Alias::new("last_event"), Alias::new("answers"));
    let events = |select: &mut SelectStatement| {
        select
            .from(referral_event::Entity)
            .and_where(Expr::col((referral_event::Entity, referral_event::Column::OccurredAt)).lte(instant));
    };
    let mut latest = Query::select();
    latest
        .column(referral_event::Column::ReferralId)
        .column(referral_event::Column::ToStatus)
        .column(referral_event::Column::Reason)
        .expr_as(newest_first("referral_events", "referral_id", "occurred_at"), "position");
    events(&mut latest);
    let first = |statuses: &str| {
        Expr::cust(format!(
            "MIN(CASE WHEN \"referral_events\".\"to_status\" IN ({statuses}) THEN \"referral_events\".\"occurred_at\" END)"
        ))
    };
    let mut answered = Query::select();
    answered
        .column(referral_event::Column::ReferralId)
        .expr_as(first("'ACCEPTED', 'DECLINED'"), referral::Column::RespondedAt)
        .expr_as(first("'COMPLETED'"), referral::Column::CompletedAt)
        .group_by_col(referral_event::Column::ReferralId);
    events(&mut answered);

    let mut select = Query::select();
    select.from_as(referral::Entity, r.clone());
    for column in referral::Column::iter() {
        match column {
            // A referral sent by then without an event by then (a gap in the log) stands as sent.
            referral::Column::Status => {
                let status = Expr::col((last.clone(), referral_event::Column::ToStatus));
                select.expr_as(Func::coalesce([status, Expr::val("SENT")]), column);
            }
            referral::Column::Reason => {
                select.expr_as(Expr::col((last.clone(), referral_event::Column::Reason)), column);
            }
            referral::Column::RespondedAt | referral::Column::CompletedAt => {
                select.expr_as(Expr::col((answers.clone(), column)), column);
            }
            _ => {
                select.column((r.clone(), column));
            }
        }
    }
    select
        .join_subquery(
            JoinType::LeftJoin,
            latest,
            last.clone(),
            Condition::all()
                .add(
                    Expr::col((last.clone(), referral_event::Column::ReferralId))
                        .equals((r.clone(), referral::Column::Id)),
                )
                .add(Expr::col((last, "position")).eq(1)),
        )
        .join_subquery(
            JoinType::LeftJoin,
            answered,
            answers.clone(),
            Expr::col((answers, referral_event::Column::ReferralId)).equals((r.clone(), referral::Column::Id)),
        )
        .and_where(Expr::col((r, referral::Column::SentAt)).lte(instant));
    select
}

/// Referrals, optionally as they stood at a past instant.
struct ReferralFact {
    as_of: Option<DateTime<Utc>>,
    /// Whether the median response and completion times are wanted.
    durations: bool,
}

impl Fact for ReferralFact {
    type Dimension = ReferralDimension;

    fn source(&self, select: &mut SelectStatement) {
        match self.as_of {
            Some(instant) => select.from_subquery(referrals_as_of(instant), referral::Entity),
            None => select.from(referral::Entity),
        };
    }

    fn time_column(&self) -> &'static str {
        "\"referrals\".\"sent_at\""
    }

    fn bucket(&self, dimension: ReferralDimension) -> Option<Bucket> {
        match dimension {
            ReferralDimension::SentDay => Some(Bucket::Day),
            ReferralDimension::SentWeek => Some(Bucket::Week),
            ReferralDimension::SentMonth => Some(Bucket::Month),
            ReferralDimension::SentQuarter => Some(Bucket::Quarter),
            ReferralDimension::SentYear => Some(Bucket::Year),
            _ => None,
        }
    }

    fn dimension(&self, dimension: ReferralDimension, backend: DatabaseBackend) -> Expr {
        match dimension {
            ReferralDimension::ReceivingOrganisation => uuid_text(backend, "\"referrals\".\"to_organisation_id\""),
            ReferralDimension::SendingOrganisation => uuid_text(backend, "\"referrals\".\"from_organisation_id\""),
            ReferralDimension::Status => Expr::col((referral::Entity, referral::Column::Status)),
            ReferralDimension::Reason => Expr::col((referral::Entity, referral::Column::Reason)),
            ReferralDimension::District => Expr::cust("substr(\"cases\".\"kelurahan_code\", 1, 8)"),
            ReferralDimension::Kelurahan => Expr::col((case::Entity, case::Column::KelurahanCode)),
            // Time dimensions are the engine's; this arm is never asked for.
            _ => Expr::cust("NULL"),
        }
    }

    fn additive(&self, _: ReferralDimension) -> bool {
        true
    }

    fn join(&self, dimensions: &[ReferralDimension], select: &mut SelectStatement) {
        if dimensions.iter().any(|d| matches!(d, ReferralDimension::District | ReferralDimension::Kelurahan)) {
            select.join(
                JoinType::InnerJoin,
                case::Entity,
                Expr::col((case::Entity, case::Column::Id)).equals((referral::Entity, referral::Column::CaseId)),
            );
        }
    }

    fn record_key(&self) -> &'static str {
        "\"referrals\".\"record_key\""
    }

    fn counts(&self) -> Vec<(&'static str, Count)> {
        let status = |value: &str| Count::When(format!("\"referrals\".\"status\" = '{value}'"));
        vec![
            ("n", Count::All),
            ("pending", status("SENT")),
            ("accepted", status("ACCEPTED")),
            ("declined", status("DECLINED")),
            ("completed", status("COMPLETED")),
            ("withdrawn", status("WITHDRAWN")),
            ("expired", status("EXPIRED")),
            ("responded", Count::When("\"referrals\".\"responded_at\" IS NOT NULL".into())),
        ]
    }

    fn relations(&self) -> Vec<(usize, Vec<usize>)> {
        vec![(0, vec![1, 2, 3, 4, 5, 6])]
    }

    fn durations(&self, backend: DatabaseBackend) -> Vec<(&'static str, Expr, usize)> {
        if !self.durations {
            return Vec::new();
        }
        let hours = |to: &str| format!("({} * 24.0)", days_between(backend, "\"referrals\".\"sent_at\"", to));
        vec![
            (
                "median_hours_to_respond",
                percentile(
                    backend,
                    &hours("\"referrals\".\"responded_at\""),
                    "\"referrals\".\"responded_at\" IS NOT NULL",
                    0.5,
                ),
                7,
            ),
            (
                "median_hours_to_complete",
                percentile(
                    backend,
                    &hours("\"referrals\".\"completed_at\""),
                    "\"referrals\".\"status\" = 'COMPLETED'",
                    0.5,
                ),
                4,
            ),
        ]
    }
}

fn referral_group(group: PublishedGroup, key: ReferralStatsKey) -> ReferralStatsGroup {
    let cells = &group.cells;
    ReferralStatsGroup {
        key,
        sent: cells[0],
        pending: cells[1],
        accepted: cells[2],
        declined: cells[3],
        completed: cells[4],
        withdrawn: cells[5],
        expired: cells[6],
        responded: cells[7],
        acceptance_rate: group.share(&[2, 4], &[2, 3, 4]),
        median_hours_to_respond: group.duration(0),
        median_hours_to_complete: group.duration(1),
    }
}

async fn referral_key(
    ctx: &Context<'_>,
    dimensions: &[ReferralDimension],
    group: &PublishedGroup,
) -> AppResult<ReferralStatsKey> {
    use entity::enums as db;
    let mut key = ReferralStatsKey::default();
    for (dimension, value) in dimensions.iter().zip([&group.key.0, &group.key.1]) {
        let Some(value) = value.clone() else { continue };
        let unknown = || AppError::Internal(format!("unexpected {dimension:?} value {value}"));
        match dimension {
            ReferralDimension::ReceivingOrganisation => key.receiving_organisation = organisation(ctx, &value).await?,
            ReferralDimension::SendingOrganisation => key.sending_organisation = organisation(ctx, &value).await?,
            ReferralDimension::Status => {
                key.status = Some(db::ReferralStatus::parse(&value).ok_or_else(unknown)?.into())
            }
            ReferralDimension::Reason => {
                key.reason = Some(db::ReferralReason::parse(&value).ok_or_else(unknown)?.into())
            }
            ReferralDimension::District => key.district = region(ctx, value.clone()).await?,
            ReferralDimension::Kelurahan => key.kelurahan = region(ctx, value.clone()).await?,
            _ => key.period = Some(value),
        }
    }
    Ok(key)
}

/// Volunteers.
struct VolunteerFact {
    today: chrono::NaiveDate,
    trained_since: chrono::NaiveDate,
}

/// The lower bounds of the tenure bands, in years, with their labels, longest first.
const TENURE_BANDS: [(u32, &str); 5] = [
    (30, "AT_LEAST_30_YEARS"),
    (20, "FROM_20_TO_29_YEARS"),
    (10, "FROM_10_TO_19_YEARS"),
    (5, "FROM_5_TO_9_YEARS"),
    (0, "UNDER_5_YEARS"),
];

impl Fact for VolunteerFact {
    type Dimension = VolunteerDimension;

    fn source(&self, select: &mut SelectStatement) {
        select.from(volunteer::Entity);
    }

    fn time_column(&self) -> &'static str {
        "\"volunteers\".\"created_at\""
    }

    fn bucket(&self, _: VolunteerDimension) -> Option<Bucket> {
        None
    }

    fn dimension(&self, dimension: VolunteerDimension, _: DatabaseBackend) -> Expr {
        match dimension {
            VolunteerDimension::District => Expr::cust("substr(\"volunteers\".\"kelurahan_code\", 1, 8)"),
            VolunteerDimension::Kelurahan => Expr::col((volunteer::Entity, volunteer::Column::KelurahanCode)),
            VolunteerDimension::Status => Expr::col((volunteer::Entity, volunteer::Column::Status)),
            VolunteerDimension::Gender => Expr::col((volunteer::Entity, volunteer::Column::Gender)),
            VolunteerDimension::TenureBand => {
                // Served since on or before the day `years` ago: at least `years` of service. The dates
                // are computed here, so the SQL is the same on both databases.
                let mut sql = String::from("CASE");
                for (years, label) in TENURE_BANDS {
                    let since = self.today.checked_sub_months(chrono::Months::new(years * 12)).unwrap_or(self.today);
                    sql.push_str(&format!(" WHEN \"volunteers\".\"served_since\" <= '{since}' THEN '{label}'"));
                }
                sql.push_str(" END");
                Expr::cust(sql)
            }
        }
    }

    fn additive(&self, _: VolunteerDimension) -> bool {
        true
    }

    fn join(&self, _: &[VolunteerDimension], _: &mut SelectStatement) {}

    fn record_key(&self) -> &'static str {
        "\"volunteers\".\"record_key\""
    }

    fn counts(&self) -> Vec<(&'static str, Count)> {
        let active = "\"volunteers\".\"status\" = 'ACTIVE'";
        let trained = format!(
            "{active} AND EXISTS (SELECT 1 FROM \"training_attendances\" AS \"t\" \
             WHERE \"t\".\"volunteer_id\" = \"volunteers\".\"id\" AND \"t\".\"attended_on\" >= '{}')",
            self.trained_since
        );
        // The cases a volunteer reported, counted and keyed by the cases' own record keys.
        let reported = |what: &str| {
            format!(
                "SUM((SELECT {what} FROM \"cases\" WHERE \"cases\".\"reporting_volunteer_id\" = \"volunteers\".\"id\"))"
            )
        };
        vec![
            ("n", Count::All),
            ("active", Count::When(active.into())),
            ("trained", Count::When(trained)),
            (
                "cases_reported",
                // PostgreSQL sums bigints into a numeric: cast back.
                Count::Custom {
                    count: format!("CAST({} AS BIGINT)", reported("COUNT(*)")),
                    key: reported("SUM(\"cases\".\"record_key\")"),
                },
            ),
        ]
    }

    fn relations(&self) -> Vec<(usize, Vec<usize>)> {
        Vec::new()
    }

    fn durations(&self, _: DatabaseBackend) -> Vec<(&'static str, Expr, usize)> {
        Vec::new()
    }
}

fn volunteer_group(group: PublishedGroup, key: VolunteerStatsKey) -> VolunteerStatsGroup {
    VolunteerStatsGroup {
        key,
        volunteers: group.cells[0],
        active: group.cells[1],
        trained: group.cells[2],
        cases_reported: group.cells[3],
        share_trained: group.share(&[2], &[1]),
        cases_per_volunteer: group.rate(&[3], &[0]),
    }
}

async fn volunteer_key(
    ctx: &Context<'_>,
    dimensions: &[VolunteerDimension],
    group: &PublishedGroup,
) -> AppResult<VolunteerStatsKey> {
    use entity::enums as db;
    let mut key = VolunteerStatsKey::default();
    for (dimension, value) in dimensions.iter().zip([&group.key.0, &group.key.1]) {
        let Some(value) = value.clone() else { continue };
        let unknown = || AppError::Internal(format!("unexpected {dimension:?} value {value}"));
        match dimension {
            VolunteerDimension::District => key.district = region(ctx, value.clone()).await?,
            VolunteerDimension::Kelurahan => key.kelurahan = region(ctx, value.clone()).await?,
            VolunteerDimension::Status => {
                key.status = Some(db::VolunteerStatus::parse(&value).ok_or_else(unknown)?.into())
            }
            VolunteerDimension::Gender => key.gender = Some(db::Sex::parse(&value).ok_or_else(unknown)?.into()),
            VolunteerDimension::TenureBand => {
                key.tenure_band = Some(match value.as_str() {
                    "AT_LEAST_30_YEARS" => TenureBand::AtLeast30Years,
                    "FROM_20_TO_29_YEARS" => TenureBand::From20To29Years,
                    "FROM_10_TO_19_YEARS" => TenureBand::From10To19Years,
                    "FROM_5_TO_9_YEARS" => TenureBand::From5To9Years,
                    "UNDER_5_YEARS" => TenureBand::Under5Years,
                    _ => return Err(unknown()),
                })
            }
        }
    }
    Ok(key)
}

/// The outcomes as they stood at `instant`: those recorded and entered by then, verified only when
/// verified by then. Other fields are today's.
fn outcomes_as_of(instant: DateTime<Utc>) -> SelectStatement {
    let o = Alias::new("o");
    let verified_at = Expr::col((o.clone(), outcome::Column::VerifiedAt));
    let mut select = Query::select();
    select.from_as(outcome::Entity, o.clone());
    for column in outcome::Column::iter() {
        match column {
            outcome::Column::Verified => {
                let verified = Expr::case(verified_at.clone().lte(instant), Expr::val(true)).finally(Expr::val(false));
                select.expr_as(verified, column);
            }
            outcome::Column::VerifiedAt => {
                let verified =
                    Expr::case(verified_at.clone().lte(instant), verified_at.clone()).finally(Expr::cust("NULL"));
                select.expr_as(verified, column);
            }
            _ => {
                select.column((o.clone(), column));
            }
        }
    }
    select
        .and_where(Expr::col((o.clone(), outcome::Column::RecordedAt)).lte(instant))
        .and_where(Expr::col((o, outcome::Column::CreatedAt)).lte(instant));
    select
}

/// Outcomes, optionally as they stood at a past instant.
struct OutcomeFact {
    as_of: Option<DateTime<Utc>>,
}

impl Fact for OutcomeFact {
    type Dimension = OutcomeDimension;

    fn source(&self, select: &mut SelectStatement) {
        match self.as_of {
            Some(instant) => select.from_subquery(outcomes_as_of(instant), outcome::Entity),
            None => select.from(outcome::Entity),
        };
    }

    fn time_column(&self) -> &'static str {
        "\"outcomes\".\"recorded_at\""
    }

    fn bucket(&self, dimension: OutcomeDimension) -> Option<Bucket> {
        match dimension {
            OutcomeDimension::RecordedDay => Some(Bucket::Day),
            OutcomeDimension::RecordedWeek => Some(Bucket::Week),
            OutcomeDimension::RecordedMonth => Some(Bucket::Month),
            OutcomeDimension::RecordedQuarter => Some(Bucket::Quarter),
            OutcomeDimension::RecordedYear => Some(Bucket::Year),
            _ => None,
        }
    }

    fn dimension(&self, dimension: OutcomeDimension, backend: DatabaseBackend) -> Expr {
        match dimension {
            OutcomeDimension::Type => Expr::col((outcome::Entity, outcome::Column::OutcomeType)),
            OutcomeDimension::Group => Expr::col((outcome::Entity, outcome::Column::OutcomeGroup)),
            OutcomeDimension::Programme => uuid_text(backend, "\"outcomes\".\"programme_id\""),
            OutcomeDimension::Category => Expr::col((case_category::Entity, case_category::Column::Category)),
            OutcomeDimension::District => Expr::cust("substr(\"cases\".\"kelurahan_code\", 1, 8)"),
            OutcomeDimension::Kelurahan => Expr::col((case::Entity, case::Column::KelurahanCode)),
            // Time dimensions are the engine's; this arm is never asked for.
            _ => Expr::cust("NULL"),
        }
    }

    fn additive(&self, dimension: OutcomeDimension) -> bool {
        dimension != OutcomeDimension::Category
    }

    fn join(&self, dimensions: &[OutcomeDimension], select: &mut SelectStatement) {
        if dimensions.contains(&OutcomeDimension::Category) {
            select.join(
                JoinType::InnerJoin,
                case_category::Entity,
                Expr::col((case_category::Entity, case_category::Column::CaseId))
                    .equals((outcome::Entity, outcome::Column::CaseId)),
            );
        }
        if dimensions.iter().any(|d| matches!(d, OutcomeDimension::District | OutcomeDimension::Kelurahan)) {
            select.join(
                JoinType::InnerJoin,
                case::Entity,
                Expr::col((case::Entity, case::Column::Id)).equals((outcome::Entity, outcome::Column::CaseId)),
            );
        }
    }

    fn record_key(&self) -> &'static str {
        "\"outcomes\".\"record_key\""
    }

    fn counts(&self) -> Vec<(&'static str, Count)> {
        let group = |value: &str| Count::When(format!("\"outcomes\".\"outcome_group\" = '{value}'"));
        vec![
            ("n", Count::All),
            ("success", group("SUCCESS")),
            ("needs_follow_up", group("NEEDS_FOLLOW_UP")),
            ("neutral", group("NEUTRAL")),
            // Verified exactly when verified_at is set (a CHECK says so; the as-of view keeps it so).
            ("verified", Count::When("\"outcomes\".\"verified_at\" IS NOT NULL".into())),
        ]
    }

    fn relations(&self) -> Vec<(usize, Vec<usize>)> {
        vec![(0, vec![1, 2, 3])]
    }

    fn durations(&self, _: DatabaseBackend) -> Vec<(&'static str, Expr, usize)> {
        Vec::new()
    }
}

fn outcome_group(group: PublishedGroup, key: OutcomeStatsKey) -> OutcomeStatsGroup {
    OutcomeStatsGroup {
        key,
        count: group.cells[0],
        success: group.cells[1],
        needs_follow_up: group.cells[2],
        neutral: group.cells[3],
        verified: group.cells[4],
        share_verified: group.share(&[4], &[0]),
    }
}

/// The keys of the outcome groups, one dimension at a time, so that each loader is asked for every value
/// of its dimension in one batch (resolving a group's whole key at once lets a group without a value run
/// ahead to the next dimension and split that dimension's batch).
async fn outcome_keys(
    ctx: &Context<'_>,
    dimensions: &[OutcomeDimension],
    groups: &[PublishedGroup],
) -> AppResult<Vec<OutcomeStatsKey>> {
    let mut keys = vec![OutcomeStatsKey::default(); groups.len()];
    for (position, dimension) in dimensions.iter().enumerate() {
        try_join_all(keys.iter_mut().zip(groups).map(|(key, group)| {
            let value = if position == 0 { &group.key.0 } else { &group.key.1 };
            outcome_key_part(ctx, *dimension, value.clone(), key)
        }))
        .await?;
    }
    Ok(keys)
}

async fn outcome_key_part(
    ctx: &Context<'_>,
    dimension: OutcomeDimension,
    value: Option<String>,
    key: &mut OutcomeStatsKey,
) -> AppResult<()> {
    use entity::enums as db;
    let Some(value) = value else { return Ok(()) };
    let unknown = || AppError::Internal(format!("unexpected {dimension:?} value {value}"));
    match dimension {
        OutcomeDimension::Type => key.outcome_type = Some(db::OutcomeType::parse(&value).ok_or_else(unknown)?.into()),
        OutcomeDimension::Group => {
            key.outcome_group = Some(db::OutcomeGroup::parse(&value).ok_or_else(unknown)?.into())
        }
        OutcomeDimension::Programme => {
            let id = Uuid::parse_str(&value).map_err(|_| unknown())?;
            key.programme = loaders::row::<programme::Entity>(ctx, id).await?.map(Programme);
        }
        OutcomeDimension::Category => key.category = Some(db::PpksCategory::parse(&value).ok_or_else(unknown)?.into()),
        OutcomeDimension::District => key.district = region(ctx, value.clone()).await?,
        OutcomeDimension::Kelurahan => key.kelurahan = region(ctx, value.clone()).await?,
        _ => key.period = Some(value),
    }
    Ok(())
}

/// Programmes, with their enrollments and the outcomes they delivered.
///
/// A programme's target and budget must count once, however many enrollments and outcomes it has, so the
/// rows counted are facts of three kinds (UNION ALL), each joined to its programme: the programme itself
/// (which alone carries the target and budget), each enrollment, and each outcome naming the programme.
/// Grouping by programme, owner or start sums each programme's target once; grouping by district splits
/// enrollments and outcomes by their case, while programme rows (no case) fall in a group of their own.
struct ProgrammeFact {
    backend: DatabaseBackend,
    /// The city's offset from UTC, in hours: a programme starts at midnight in the city.
    offset_hours: i32,
}

const PROGRAMME_FACTS: &str = "programme_facts";

impl ProgrammeFact {
    /// The facts: (programme_id, fact, case_id, outcome_group, record_key) of every enrollment, outcome and
    /// programme.
    fn facts() -> SelectStatement {
        let mut enrollments = Query::select();
        enrollments
            .expr_as(Expr::col((enrollment::Entity, enrollment::Column::ProgrammeId)), "programme_id")
            .expr_as(Expr::cust("'ENROLLMENT'"), "fact")
            .expr_as(Expr::col((enrollment::Entity, enrollment::Column::CaseId)), "case_id")
            .expr_as(Expr::cust("NULL"), "outcome_group")
            .expr_as(Expr::col((enrollment::Entity, enrollment::Column::RecordKey)), "record_key")
            .from(enrollment::Entity);
        let mut outcomes = Query::select();
        outcomes
            .expr_as(Expr::col((outcome::Entity, outcome::Column::ProgrammeId)), "programme_id")
            .expr_as(Expr::cust("'OUTCOME'"), "fact")
            .expr_as(Expr::col((outcome::Entity, outcome::Column::CaseId)), "case_id")
            .expr_as(Expr::col((outcome::Entity, outcome::Column::OutcomeGroup)), "outcome_group")
            .expr_as(Expr::col((outcome::Entity, outcome::Column::RecordKey)), "record_key")
            .from(outcome::Entity)
            .and_where(Expr::col((outcome::Entity, outcome::Column::ProgrammeId)).is_not_null());
        let mut programmes = Query::select();
        programmes
            .expr_as(Expr::col((programme::Entity, programme::Column::Id)), "programme_id")
            .expr_as(Expr::cust("'PROGRAMME'"), "fact")
            .expr_as(Expr::cust("NULL"), "case_id")
            .expr_as(Expr::cust("NULL"), "outcome_group")
            // A programme row counts no one: it only carries the target and budget.
            .expr_as(Expr::cust("0"), "record_key")
            .from(programme::Entity);
        enrollments.union(UnionType::All, outcomes).union(UnionType::All, programmes);
        enrollments
    }

    /// The programmes, with the instant each starts (midnight of `starts_on` in the city) as `started_at`.
    fn programmes(&self) -> SelectStatement {
        let p = Alias::new("p");
        let mut select = Query::select();
        select.from_as(programme::Entity, p.clone());
        for column in programme::Column::iter() {
            select.column((p.clone(), column));
        }
        let hours = self.offset_hours;
        let started_at = if self.backend == DatabaseBackend::Postgres {
            format!("(CAST(\"p\".\"starts_on\" AS TIMESTAMP) AT TIME ZONE INTERVAL '{hours:+03}:00')")
        } else {
            // Formatted as instants are stored (RFC 3339 in UTC), so that periods compare as text.
            format!("strftime('%Y-%m-%dT%H:%M:%S+00:00', \"p\".\"starts_on\", '{:+} hours')", -hours)
        };
        select.expr_as(Expr::cust(started_at), "started_at");
        select
    }
}

impl Fact for ProgrammeFact {
    type Dimension = ProgrammeDimension;

    fn source(&self, select: &mut SelectStatement) {
        select.from_subquery(Self::facts(), Alias::new(PROGRAMME_FACTS)).join_subquery(
            JoinType::InnerJoin,
            self.programmes(),
            programme::Entity,
            Expr::col((programme::Entity, programme::Column::Id)).equals((Alias::new(PROGRAMME_FACTS), "programme_id")),
        );
    }

    fn time_column(&self) -> &'static str {
        "\"programmes\".\"started_at\""
    }

    fn bucket(&self, dimension: ProgrammeDimension) -> Option<Bucket> {
        match dimension {
            ProgrammeDimension::StartedDay => Some(Bucket::Day),
            ProgrammeDimension::StartedWeek => Some(Bucket::Week),
            ProgrammeDimension::StartedMonth => Some(Bucket::Month),
            ProgrammeDimension::StartedQuarter => Some(Bucket::Quarter),
            ProgrammeDimension::StartedYear => Some(Bucket::Year),
            _ => None,
        }
    }

    fn dimension(&self, dimension: ProgrammeDimension, backend: DatabaseBackend) -> Expr {
        match dimension {
            ProgrammeDimension::Programme => uuid_text(backend, "\"programmes\".\"id\""),
            ProgrammeDimension::OwnerOrganisation => uuid_text(backend, "\"programmes\".\"owner_organisation_id\""),
            ProgrammeDimension::District => Expr::cust("substr(\"cases\".\"kelurahan_code\", 1, 8)"),
            // Time dimensions are the engine's; this arm is never asked for.
            _ => Expr::cust("NULL"),
        }
    }

    fn additive(&self, _: ProgrammeDimension) -> bool {
        // Every fact falls in one programme, one owner, one start and (enrollments and outcomes) one
        // district.
        true
    }

    fn join(&self, dimensions: &[ProgrammeDimension], select: &mut SelectStatement) {
        if dimensions.contains(&ProgrammeDimension::District) {
            select.join(
                JoinType::LeftJoin,
                case::Entity,
                Expr::col((case::Entity, case::Column::Id)).equals((Alias::new(PROGRAMME_FACTS), "case_id")),
            );
        }
    }

    fn record_key(&self) -> &'static str {
        "\"programme_facts\".\"record_key\""
    }

    fn counts(&self) -> Vec<(&'static str, Count)> {
        let fact = |kind: &str| format!("\"{PROGRAMME_FACTS}\".\"fact\" = '{kind}'");
        let outcome = |group: &str| {
            Count::When(format!("{} AND \"{PROGRAMME_FACTS}\".\"outcome_group\" = '{group}'", fact("OUTCOME")))
        };
        vec![
            ("enrolled", Count::When(fact("ENROLLMENT"))),
            ("outcomes", Count::When(fact("OUTCOME"))),
            ("success", outcome("SUCCESS")),
            ("needs_follow_up", outcome("NEEDS_FOLLOW_UP")),
            ("neutral", outcome("NEUTRAL")),
        ]
    }

    fn relations(&self) -> Vec<(usize, Vec<usize>)> {
        vec![(1, vec![2, 3, 4])]
    }

    fn durations(&self, _: DatabaseBackend) -> Vec<(&'static str, Expr, usize)> {
        Vec::new()
    }

    fn sums(&self) -> Vec<(&'static str, Expr)> {
        // Only programme rows carry them, so each programme counts once. PostgreSQL sums bigints into a
        // numeric: cast back.
        let once = |column: &str| {
            Expr::cust(format!(
                "CAST(SUM(CASE WHEN \"{PROGRAMME_FACTS}\".\"fact\" = 'PROGRAMME' THEN \"programmes\".\"{column}\" ELSE 0 END) AS BIGINT)"
            ))
        };
        vec![("target", once("target")), ("budget_idr", once("budget_idr"))]
    }
}

/// `split`: the groups split programmes by district, which their target and budget do not divide into.
fn programme_group(group: PublishedGroup, key: ProgrammeStatsKey, split: bool) -> ProgrammeStatsGroup {
    let target = (!split).then(|| group.sum(0));
    let enrolled = group.cells[0];
    ProgrammeStatsGroup {
        key,
        enrolled,
        target,
        reach: match (enrolled.value, target) {
            (Some(enrolled), Some(target)) if target > 0 => Some(enrolled as f64 / target as f64),
            _ => None,
        },
        outcomes: group.cells[1],
        success: group.cells[2],
        needs_follow_up: group.cells[3],
        neutral: group.cells[4],
        budget_idr: (!split).then(|| group.sum(1)),
    }
}

/// The keys of the programme groups, one dimension at a time (see [`outcome_keys`]).
async fn programme_keys(
    ctx: &Context<'_>,
    dimensions: &[ProgrammeDimension],
    groups: &[PublishedGroup],
) -> AppResult<Vec<ProgrammeStatsKey>> {
    let mut keys = vec![ProgrammeStatsKey::default(); groups.len()];
    for (position, dimension) in dimensions.iter().enumerate() {
        try_join_all(keys.iter_mut().zip(groups).map(|(key, group)| {
            let value = if position == 0 { &group.key.0 } else { &group.key.1 };
            programme_key_part(ctx, *dimension, value.clone(), key)
        }))
        .await?;
    }
    Ok(keys)
}

async fn programme_key_part(
    ctx: &Context<'_>,
    dimension: ProgrammeDimension,
    value: Option<String>,
    key: &mut ProgrammeStatsKey,
) -> AppResult<()> {
    let Some(value) = value else { return Ok(()) };
    match dimension {
        ProgrammeDimension::Programme => {
            let id =
                Uuid::parse_str(&value).map_err(|_| AppError::Internal(format!("unexpected programme id {value}")))?;
            key.programme = loaders::row::<programme::Entity>(ctx, id).await?.map(Programme);
        }
        ProgrammeDimension::OwnerOrganisation => key.owner_organisation = organisation(ctx, &value).await?,
        ProgrammeDimension::District => key.district = region(ctx, value.clone()).await?,
        _ => key.period = Some(value),
    }
    Ok(())
}

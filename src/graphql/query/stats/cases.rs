//! Case statistics: the case fact, the tallies that can answer it, and cases as they stood at a past instant.

use super::*;

/// Cases, optionally as they stood at a past instant.
pub(super) struct CaseFact {
    pub(super) as_of: Option<DateTime<Utc>>,
    /// Whether the percentiles of days to close are wanted.
    pub(super) durations: bool,
    /// The tally read instead of the cases, when one holds the request (see [`case_tally`]).
    pub(super) tally: Option<CaseTally>,
}

/// The tally that answers a case statistics request exactly, if one does: figures of today (no
/// `asOf`), percentiles only over every case (by category or not), a caller who counts every case, a
/// filter on fields the tally holds, and opening instants (period, `filter.opened`) at whole days, as
/// the day tally holds them. Anything else counts the cases.
pub(super) fn case_tally(
    settings: &Settings,
    counting: &Scoped,
    filter: &CaseFilter,
    group_by: &[CaseDimension],
    period: Option<&StatsPeriod>,
    as_of: Option<DateTime<Utc>>,
    durations: bool,
) -> Option<CaseTally> {
    if !settings.tallies || !counting.counts_all::<case::Entity>() {
        return None;
    }
    if let Some(instant) = as_of {
        return history_tally(settings, filter, group_by, period, instant, durations);
    }
    // Durations come from the closures (see [`CaseFact::ranked`]), which hold every closed case and
    // every category of one, nothing else: no filter, no period, grouped by category or not at all.
    if durations {
        let everything = filter == &CaseFilter::default() && period.is_none();
        return match group_by {
            [] if everything => Some(CaseTally::Cases),
            [CaseDimension::Category] if everything => Some(CaseTally::Categories),
            _ => None,
        };
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

/// The status history answers a request for cases as they stood at a city midnight, by kelurahan and
/// status only: grouped by them or their kecamatan, filtered by them, no period, no days to close.
fn history_tally(
    settings: &Settings,
    filter: &CaseFilter,
    group_by: &[CaseDimension],
    period: Option<&StatsPeriod>,
    instant: DateTime<Utc>,
    durations: bool,
) -> Option<CaseTally> {
    // A filter on anything else (a field added later included) differs from its place and status.
    let place_and_status = CaseFilter {
        status: filter.status.clone(),
        district_codes: filter.district_codes.clone(),
        kelurahan_codes: filter.kelurahan_codes.clone(),
        ..CaseFilter::default()
    };
    let held = !durations
        && period.is_none()
        && filter == &place_and_status
        && disclosure::whole_day(instant, settings.offset)
        && group_by.iter().all(|dimension| {
            matches!(dimension, CaseDimension::District | CaseDimension::Kelurahan | CaseDimension::Status)
        });
    held.then_some(CaseTally::History)
}

pub(super) const CLOSED: &str = "\"cases\".\"status\" = 'CLOSED'";
const MEDIAN: f64 = 0.5;
const P90: f64 = 0.9;

impl Fact for CaseFact {
    type Dimension = CaseDimension;

    /// A tally is read under the name `cases`, its columns named as the cases' own, so that filters and
    /// dimensions apply to it unchanged.
    fn source(&self, select: &mut SelectStatement) {
        match (self.tally, self.as_of) {
            // Chosen only with an instant (see [`history_tally`]).
            (Some(CaseTally::History), Some(instant)) => {
                select.from_subquery(tallies::case_history_as_of(instant), case::Entity)
            }
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
            ("median_days", percentile(backend, &days, CLOSED, MEDIAN), 2),
            ("p90_days", percentile(backend, &days, CLOSED, P90), 2),
        ]
    }

    /// Read from a tally, the days to close come from the closures, in order: the same values, by rank.
    fn ranked(&self) -> Option<Ranked> {
        self.tally.filter(|_| self.durations).map(|_| Ranked {
            table: tallies::CLOSURES,
            group: "grp",
            value: "days",
            total: tallies::EVERY_CLOSURE,
            fractions: vec![MEDIAN, P90],
            prefixes: vec!["", ""],
        })
    }
}

/// A count over tally rows read as `cases` (where `when` holds): the sum of their counts, with the sum of
/// their key sums.
pub(super) fn tallied(when: Option<&str>) -> Count {
    tallied_as("cases", when)
}

/// A count over tally rows read under the name `source` (where `when` holds).
pub(super) fn tallied_as(source: &str, when: Option<&str>) -> Count {
    let sum = |column: &str| match when {
        Some(when) => format!("CAST(SUM(CASE WHEN {when} THEN \"{source}\".\"{column}\" ELSE 0 END) AS BIGINT)"),
        None => format!("CAST(SUM(\"{source}\".\"{column}\") AS BIGINT)"),
    };
    Count::Custom { count: sum("n"), key: sum("key_sum") }
}

pub(super) fn case_group(group: PublishedGroup, key: CaseStatsKey) -> CaseStatsGroup {
    CaseStatsGroup {
        key,
        count: group.cells[0].into(),
        open: group.cells[1].into(),
        closed: group.cells[2].into(),
        closure_rate: group.share(&[2], &[0]),
        median_days_to_close: group.duration(0),
        p90_days_to_close: group.duration(1),
    }
}

pub(super) async fn case_key(
    ctx: &Context<'_>,
    dimensions: &[CaseDimension],
    group: &PublishedGroup,
) -> AppResult<CaseStatsKey> {
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

/// The cases as they stood at `instant`: those opened by then, with the status and closing instant of
/// their last status change up to then. Other fields are today's.
///
/// The last change of each case comes from one derived table (a window function over the changes up to
/// then), joined once, as in [`referrals_as_of`]: correlated subqueries would run again for each of the
/// many references the counts make to the status.
pub(super) fn cases_as_of(instant: DateTime<Utc>) -> SelectStatement {
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

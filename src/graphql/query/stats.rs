//! Root fields for aggregate statistics: grouped in one SQL statement, suppressed before they leave.

use std::collections::{BTreeMap, BTreeSet};

use async_graphql::{Context, Object};
use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Utc};
use entity::{case, case_category, case_status_change, region};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, Order, Query, SelectStatement, UnionType};
use sea_orm::{ConnectionTrait, DatabaseBackend, Iterable};

use crate::error::{AppError, AppResult};
use crate::graphql::loaders;
use crate::graphql::types::case::CaseFilter;
use crate::graphql::types::region::Region;
use crate::graphql::types::stats::{CaseDimension, CaseStats, CaseStatsGroup, CaseStatsKey, Cell, StatsPeriod};
use crate::graphql::types::{config, db};
use crate::service::suppression::{Equation, suppress};

/// The values of up to two grouping dimensions, as the statement returns them.
type GroupKey = (Option<String>, Option<String>);

/// Cases and closed cases per group.
type Counted = BTreeMap<GroupKey, (u64, u64)>;

/// Median and 90th percentile of days to close per group.
type Durations = BTreeMap<GroupKey, (Option<f64>, Option<f64>)>;

#[derive(Default)]
pub struct StatsQuery;

#[Object]
impl StatsQuery {
    /// Case counts (all, open, closed, closure rate, median and 90th percentile days to close) for the
    /// cases matching `filter`, grouped by up to
    /// two dimensions, computed in one SQL statement. Counts below `minimumCellSize` are suppressed, and so
    /// are the counts that would let a suppressed one be worked out (see `Cell`). Time dimensions need a
    /// `period`, and return every bucket in it, zeros included.
    async fn case_stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which cases to count; the same filter as `cases`.")] filter: Option<CaseFilter>,
        #[graphql(desc = "Up to two dimensions to group by (at most one of them a time dimension).", default)]
        group_by: Vec<CaseDimension>,
        #[graphql(desc = "The span a time dimension covers; required with one, and it also limits the cases counted.")]
        period: Option<StatsPeriod>,
        #[graphql(
            desc = "Figures as they stood at this past instant: cases opened by then, each in the status its history gives it then. Reproduces a published figure however the cases changed since. Default: now."
        )]
        as_of: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<CaseStats> {
        let config = config(ctx)?;
        let offset = config.city_offset();
        let k = u64::from(std::cmp::max(config.minimum_cell_size, 1));
        let now = Utc::now();
        if as_of.is_some_and(|instant| instant > now) {
            return Err(AppError::bad_input("asOf", "`asOf` must not be in the future").into());
        }
        let plan = Plan::new(&group_by, period, offset, config.max_buckets as usize)?;
        let mut condition = filter.unwrap_or_default().condition()?;
        if let (Some(_), Some(period)) = (plan.time, period) {
            condition = condition.add(Expr::col((case::Entity, case::Column::OpenedAt)).gte(period.from));
            condition = condition.add(Expr::col((case::Entity, case::Column::OpenedAt)).lt(period.before));
        }
        let db = db(ctx)?;
        let statement = plan.statement(db.get_database_backend(), condition, offset, as_of);
        let rows = db.query_all(&statement).await.map_err(AppError::from)?;
        let mut total = (0u64, 0u64);
        let mut total_durations = (None, None);
        let mut counted: Counted = BTreeMap::new();
        let mut durations: Durations = BTreeMap::new();
        for row in rows {
            let median: Option<f64> = row.try_get("", "median_days").map_err(AppError::from)?;
            let p90: Option<f64> = row.try_get("", "p90_days").map_err(AppError::from)?;
            let is_total: i32 = row.try_get("", "is_total").map_err(AppError::from)?;
            let count = std::cmp::max(row.try_get::<i64>("", "n").map_err(AppError::from)?, 0) as u64;
            let closed =
                std::cmp::max(row.try_get::<Option<i64>>("", "closed").map_err(AppError::from)?.unwrap_or(0), 0) as u64;
            if is_total == 1 {
                total = (count, closed);
                total_durations = (median, p90);
            } else {
                let first: Option<String> = row.try_get("", "d0").map_err(AppError::from)?;
                let second: Option<String> = row.try_get("", "d1").map_err(AppError::from)?;
                counted.insert((first.clone(), second.clone()), (count, closed));
                durations.insert((first, second), (median, p90));
            }
        }
        let keys = plan.keys(&counted);
        let figures = Figures { counted, durations, total, total_durations };
        Ok(plan.publish(ctx, keys, &figures, k, as_of.unwrap_or(now)).await?)
    }
}

/// What the statement returned.
struct Figures {
    counted: Counted,
    durations: Durations,
    total: (u64, u64),
    total_durations: (Option<f64>, Option<f64>),
}

/// What a `caseStats` request groups by, checked.
struct Plan {
    dimensions: Vec<CaseDimension>,
    time: Option<CaseDimension>,
    buckets: Vec<String>,
}

impl Plan {
    fn new(
        group_by: &[CaseDimension],
        period: Option<StatsPeriod>,
        offset: FixedOffset,
        max_buckets: usize,
    ) -> AppResult<Plan> {
        if group_by.len() > 2 {
            return Err(AppError::bad_input("groupBy", "group by at most two dimensions"));
        }
        if group_by.len() == 2 && group_by[0] == group_by[1] {
            return Err(AppError::bad_input("groupBy", "the two dimensions must differ"));
        }
        let times: Vec<CaseDimension> = group_by.iter().copied().filter(|d| d.is_time()).collect();
        if times.len() > 1 {
            return Err(AppError::bad_input("groupBy", "group by at most one time dimension"));
        }
        let time = times.first().copied();
        let buckets = match (time, period) {
            (None, _) => Vec::new(),
            (Some(_), None) => {
                return Err(AppError::bad_input("period", "a time dimension needs a `period` (from and before)"));
            }
            (Some(dimension), Some(period)) => {
                if period.before <= period.from {
                    return Err(AppError::bad_input("period", "`period.before` must be later than `period.from`"));
                }
                buckets(dimension, period, offset, max_buckets)?
            }
        };
        Ok(Plan { dimensions: group_by.to_vec(), time, buckets })
    }

    fn grouped_by_category(&self) -> bool {
        self.dimensions.contains(&CaseDimension::Category)
    }

    /// One statement: the groups, and (UNION ALL) the total over all matching cases. With `as_of`, the
    /// cases are read through [`cases_as_of`] under the table's own name, so filters apply unchanged.
    fn statement(
        &self,
        backend: DatabaseBackend,
        condition: sea_orm::Condition,
        offset: FixedOffset,
        as_of: Option<DateTime<Utc>>,
    ) -> SelectStatement {
        let from = |select: &mut SelectStatement| match as_of {
            Some(instant) => {
                select.from_subquery(cases_as_of(instant), case::Entity);
            }
            None => {
                select.from(case::Entity);
            }
        };
        let closed = Expr::cust("SUM(CASE WHEN \"cases\".\"status\" = 'CLOSED' THEN 1 ELSE 0 END)");
        let mut total = Query::select();
        total
            .expr_as(Expr::cust("1"), "is_total")
            .expr_as(Expr::cust("NULL"), "d0")
            .expr_as(Expr::cust("NULL"), "d1")
            .expr_as(Expr::cust("COUNT(*)"), "n")
            .expr_as(closed.clone(), "closed")
            .expr_as(days_to_close(backend, 0.5), "median_days")
            .expr_as(days_to_close(backend, 0.9), "p90_days");
        from(&mut total);
        total.cond_where(condition.clone());
        if self.dimensions.is_empty() {
            return total;
        }
        let mut groups = Query::select();
        groups.expr_as(Expr::cust("0"), "is_total");
        for (i, alias) in ["d0", "d1"].into_iter().enumerate() {
            match self.dimensions.get(i) {
                Some(dimension) => {
                    let expr = dimension_expr(*dimension, backend, offset);
                    groups.expr_as(expr.clone(), alias).add_group_by([expr]);
                }
                None => {
                    groups.expr_as(Expr::cust("NULL"), alias);
                }
            }
        }
        groups
            .expr_as(Expr::cust("COUNT(*)"), "n")
            .expr_as(closed, "closed")
            .expr_as(days_to_close(backend, 0.5), "median_days")
            .expr_as(days_to_close(backend, 0.9), "p90_days");
        from(&mut groups);
        if self.grouped_by_category() {
            groups.join(
                JoinType::InnerJoin,
                case_category::Entity,
                Expr::col((case_category::Entity, case_category::Column::CaseId))
                    .equals((case::Entity, case::Column::Id)),
            );
        }
        groups.cond_where(condition);
        let mut union = total;
        union.union(UnionType::All, groups);
        union
    }

    /// Every group to publish: those counted, plus empty time buckets.
    fn keys(&self, counted: &Counted) -> Vec<GroupKey> {
        let mut keys: BTreeSet<GroupKey> = counted.keys().cloned().collect();
        if let Some(time) = self.time {
            let position = self.dimensions.iter().position(|d| *d == time).unwrap_or(0);
            let others: BTreeSet<Option<String>> = if self.dimensions.len() == 1 {
                BTreeSet::from([None])
            } else {
                counted.keys().map(|(a, b)| if position == 0 { b.clone() } else { a.clone() }).collect()
            };
            for bucket in &self.buckets {
                for other in &others {
                    keys.insert(if position == 0 {
                        (Some(bucket.clone()), other.clone())
                    } else {
                        (other.clone(), Some(bucket.clone()))
                    });
                }
            }
        }
        keys.into_iter().collect()
    }

    /// Suppresses and shapes the figures.
    async fn publish(
        &self,
        ctx: &Context<'_>,
        keys: Vec<GroupKey>,
        figures: &Figures,
        k: u64,
        as_of: DateTime<Utc>,
    ) -> AppResult<CaseStats> {
        let counted = &figures.counted;
        // Cells: for each group [count, open, closed], then the total's, then margins (row and column
        // sums a coarser query would publish) as hidden-or-not members of the equations.
        let mut counts: Vec<u64> = Vec::new();
        let mut equations: Vec<Equation> = Vec::new();
        let push_triplet = |counts: &mut Vec<u64>, equations: &mut Vec<Equation>, (count, closed): (u64, u64)| {
            let base = counts.len();
            counts.extend([count, count.saturating_sub(closed), closed]);
            equations.push(Equation { whole: base, parts: vec![base + 1, base + 2] });
            base
        };
        let group_cells: Vec<usize> = keys
            .iter()
            .map(|key| push_triplet(&mut counts, &mut equations, counted.get(key).copied().unwrap_or((0, 0))))
            .collect();
        let total_cell = push_triplet(&mut counts, &mut equations, figures.total);
        // A dimension's groups add up to their margin, except across categories (a case can have several).
        let additive = |axis: usize| self.dimensions.get(axis).is_some_and(|d| *d != CaseDimension::Category);
        let margins = |axis: usize, counts: &mut Vec<u64>, equations: &mut Vec<Equation>| {
            let mut lines: BTreeMap<Option<String>, Vec<usize>> = BTreeMap::new();
            for (key, &cell) in keys.iter().zip(&group_cells) {
                let fixed = if axis == 0 { key.1.clone() } else { key.0.clone() };
                lines.entry(fixed).or_default().push(cell);
            }
            for cells in lines.values() {
                for measure in 0..3 {
                    let parts: Vec<usize> = cells.iter().map(|cell| cell + measure).collect();
                    let sum: u64 = parts.iter().map(|&i| counts[i]).sum();
                    let whole = if self.dimensions.len() == 1 && !self.grouped_by_category() {
                        total_cell + measure
                    } else {
                        counts.push(sum);
                        counts.len() - 1
                    };
                    equations.push(Equation { whole, parts });
                }
            }
        };
        for axis in 0..self.dimensions.len() {
            if additive(axis) {
                margins(axis, &mut counts, &mut equations);
            }
        }
        let hidden = suppress(&counts, &equations, k);
        let cell = |i: usize| Cell::new(counts[i], hidden[i]);
        // Durations describe the closed cases: published only when their count is.
        let group = |base: usize, key: CaseStatsKey, (median, p90): (Option<f64>, Option<f64>)| {
            let closed_published = !hidden[base + 2] && counts[base + 2] > 0;
            CaseStatsGroup {
                key,
                count: cell(base),
                open: cell(base + 1),
                closed: cell(base + 2),
                closure_rate: (!hidden[base] && !hidden[base + 2] && counts[base] > 0)
                    .then(|| counts[base + 2] as f64 / counts[base] as f64),
                median_days_to_close: median.filter(|_| closed_published),
                p90_days_to_close: p90.filter(|_| closed_published),
            }
        };
        let mut groups = Vec::with_capacity(keys.len());
        for (key, &base) in keys.iter().zip(&group_cells) {
            let mut stats_key = CaseStatsKey::default();
            for (dimension, value) in self.dimensions.iter().zip([&key.0, &key.1]) {
                self.fill_key(ctx, &mut stats_key, *dimension, value.clone()).await?;
            }
            let durations = figures.durations.get(key).copied().unwrap_or((None, None));
            groups.push(group(base, stats_key, durations));
        }
        let total = group(total_cell, CaseStatsKey::default(), figures.total_durations);
        Ok(CaseStats { minimum_cell_size: k as i32, as_of, total, groups })
    }

    async fn fill_key(
        &self,
        ctx: &Context<'_>,
        key: &mut CaseStatsKey,
        dimension: CaseDimension,
        value: Option<String>,
    ) -> AppResult<()> {
        use entity::enums as db;
        let Some(value) = value else { return Ok(()) };
        let unknown = || AppError::Internal(format!("unexpected {dimension:?} value {value}"));
        match dimension {
            CaseDimension::District => {
                key.district = loaders::row::<region::Entity>(ctx, value.clone()).await?.map(Region)
            }
            CaseDimension::Kelurahan => {
                key.kelurahan = loaders::row::<region::Entity>(ctx, value.clone()).await?.map(Region)
            }
            CaseDimension::Category => key.category = Some(db::PpksCategory::parse(&value).ok_or_else(unknown)?.into()),
            CaseDimension::Status => key.status = Some(db::CaseStatus::parse(&value).ok_or_else(unknown)?.into()),
            CaseDimension::Urgency => key.urgency = Some(db::Urgency::parse(&value).ok_or_else(unknown)?.into()),
            CaseDimension::Source => key.source = Some(db::CaseSource::parse(&value).ok_or_else(unknown)?.into()),
            _ => key.period = Some(value),
        }
        Ok(())
    }
}

/// The cases as they stood at `instant`: those opened by then, with the status and closing instant of
/// their last status change up to then. Other fields are today's.
fn cases_as_of(instant: DateTime<Utc>) -> SelectStatement {
    let (h, c) = (Alias::new("h"), Alias::new("c"));
    let latest = |what: Expr| {
        let subquery = Query::select()
            .expr(what)
            .from_as(case_status_change::Entity, h.clone())
            .and_where(Expr::col((h.clone(), case_status_change::Column::CaseId)).equals((c.clone(), case::Column::Id)))
            .and_where(Expr::col((h.clone(), case_status_change::Column::ChangedAt)).lte(instant))
            .order_by((h.clone(), case_status_change::Column::ChangedAt), Order::Desc)
            .order_by((h.clone(), case_status_change::Column::Id), Order::Desc)
            .limit(1)
            .take();
        Expr::SubQuery(None, Box::new(subquery.into()))
    };
    let to_status = Expr::col((h.clone(), case_status_change::Column::ToStatus));
    let changed_at = Expr::col((h.clone(), case_status_change::Column::ChangedAt));
    let mut select = Query::select();
    select.from_as(case::Entity, Alias::new("c"));
    for column in case::Column::iter() {
        match column {
            case::Column::Status => {
                select.expr_as(latest(to_status.clone()), column);
            }
            case::Column::ClosedAt => {
                let closing =
                    Expr::case(to_status.clone().eq("CLOSED"), changed_at.clone()).finally(Expr::cust("NULL"));
                select.expr_as(latest(closing.into()), column);
            }
            _ => {
                select.column((Alias::new("c"), column));
            }
        }
    }
    select.and_where(Expr::col((Alias::new("c"), case::Column::OpenedAt)).lte(instant));
    select
}

/// The `fraction` percentile of days from opening to closing over the closed cases of a group, exact and
/// interpolated alike on both databases (SQLite is built with its percentile functions for this).
fn days_to_close(backend: DatabaseBackend, fraction: f64) -> Expr {
    let closed = "\"cases\".\"status\" = 'CLOSED'";
    if backend == DatabaseBackend::Postgres {
        Expr::cust(format!(
            "percentile_cont({fraction}) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM (\"cases\".\"closed_at\" - \"cases\".\"opened_at\")) / 86400.0) FILTER (WHERE {closed})"
        ))
    } else {
        Expr::cust(format!(
            "percentile_cont(CASE WHEN {closed} THEN julianday(\"cases\".\"closed_at\") - julianday(\"cases\".\"opened_at\") END, {fraction})"
        ))
    }
}

/// The SQL expression of a dimension. Time buckets are formatted in the city's time zone exactly as
/// [`bucket_label`] formats them.
fn dimension_expr(dimension: CaseDimension, backend: DatabaseBackend, offset: FixedOffset) -> Expr {
    let opened = "\"cases\".\"opened_at\"";
    let hours = offset.local_minus_utc() / 3600;
    let pg = |format: &str| Expr::cust(format!("to_char({opened} AT TIME ZONE INTERVAL '{hours:+03}:00', '{format}')"));
    let sqlite = |format: &str| Expr::cust(format!("strftime('{format}', {opened}, '{hours:+} hours')"));
    let postgres = backend == DatabaseBackend::Postgres;
    match dimension {
        // A kelurahan code starts with its kecamatan's: 63.71.01.1001 lies in 63.71.01.
        CaseDimension::District => Expr::cust("substr(\"cases\".\"kelurahan_code\", 1, 8)"),
        CaseDimension::Kelurahan => Expr::col((case::Entity, case::Column::KelurahanCode)),
        CaseDimension::Category => Expr::col((case_category::Entity, case_category::Column::Category)),
        CaseDimension::Status => Expr::col((case::Entity, case::Column::Status)),
        CaseDimension::Urgency => Expr::col((case::Entity, case::Column::Urgency)),
        CaseDimension::Source => Expr::col((case::Entity, case::Column::Source)),
        CaseDimension::OpenedDay => {
            if postgres {
                pg("YYYY-MM-DD")
            } else {
                sqlite("%Y-%m-%d")
            }
        }
        CaseDimension::OpenedWeek => {
            if postgres {
                pg("IYYY-\"W\"IW")
            } else {
                sqlite("%G-W%V")
            }
        }
        CaseDimension::OpenedMonth => {
            if postgres {
                pg("YYYY-MM")
            } else {
                sqlite("%Y-%m")
            }
        }
        CaseDimension::OpenedQuarter => {
            if postgres {
                pg("YYYY-\"Q\"Q")
            } else {
                Expr::cust(format!(
                    "strftime('%Y', {opened}, '{hours:+} hours') || '-Q' || ((CAST(strftime('%m', {opened}, '{hours:+} hours') AS INTEGER) + 2) / 3)"
                ))
            }
        }
        CaseDimension::OpenedYear => {
            if postgres {
                pg("YYYY")
            } else {
                sqlite("%Y")
            }
        }
    }
}

/// The label of the bucket a local date falls in.
fn bucket_label(dimension: CaseDimension, day: NaiveDate) -> String {
    match dimension {
        CaseDimension::OpenedDay => day.format("%Y-%m-%d").to_string(),
        CaseDimension::OpenedWeek => {
            let week = day.iso_week();
            format!("{:04}-W{:02}", week.year(), week.week())
        }
        CaseDimension::OpenedMonth => day.format("%Y-%m").to_string(),
        CaseDimension::OpenedQuarter => format!("{:04}-Q{}", day.year(), day.month0() / 3 + 1),
        _ => format!("{:04}", day.year()),
    }
}

/// Every bucket label of `period`, in order.
fn buckets(dimension: CaseDimension, period: StatsPeriod, offset: FixedOffset, max: usize) -> AppResult<Vec<String>> {
    let first = period.from.with_timezone(&offset).date_naive();
    let last = (period.before - Duration::seconds(1)).with_timezone(&offset).date_naive();
    let mut labels: Vec<String> = Vec::new();
    let mut day = first;
    while day <= last {
        let label = bucket_label(dimension, day);
        if labels.last() != Some(&label) {
            if labels.len() == max {
                return Err(AppError::bad_input(
                    "period",
                    format!("the period spans more than {max} buckets; choose a coarser one"),
                ));
            }
            labels.push(label);
        }
        day = match day.succ_opt() {
            Some(next) => next,
            None => break,
        };
    }
    Ok(labels)
}

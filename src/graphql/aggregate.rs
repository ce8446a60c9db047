//! The engine behind the statistics fields: one grouped SQL statement per request, empty time buckets
//! filled in, then small-cell suppression over every published count.
//!
//! Each kind of fact (cases, referrals) describes itself through [`Fact`]: the table it reads, its
//! dimensions as SQL expressions, the counts it measures and how they add up, and the durations whose
//! percentiles it reports. The statement groups in the database and returns one row per group, plus
//! (UNION ALL) one row for the total; nothing but those rows reaches Rust.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement, UnionType};
use sea_orm::{Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection};

use crate::error::{AppError, AppResult};
use crate::graphql::types::stats::{Cell, StatsPeriod};
use crate::service::suppression::{Equation, suppress};

/// The values of up to two grouping dimensions, as the statement returns them.
pub type GroupKey = (Option<String>, Option<String>);

/// A calendar bucket, in the city's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

/// A kind of fact the statistics count.
pub trait Fact {
    /// The dimensions it can be grouped by (a GraphQL enum).
    type Dimension: Copy + Eq + std::fmt::Debug;

    /// Adds the rows to count as the statement's FROM, under the table's own name.
    fn source(&self, select: &mut SelectStatement);
    /// The instant column time buckets and periods apply to, as SQL.
    fn time_column(&self) -> &'static str;
    /// The bucket of a time dimension; `None` for other dimensions.
    fn bucket(&self, dimension: Self::Dimension) -> Option<Bucket>;
    /// The SQL of a dimension that is not a time dimension; it must return text.
    fn dimension(&self, dimension: Self::Dimension, backend: DatabaseBackend) -> Expr;
    /// Whether the groups of a dimension add up to their total (false when a row can fall in several).
    fn additive(&self, dimension: Self::Dimension) -> bool;
    /// Adds the joins the chosen dimensions need.
    fn join(&self, dimensions: &[Self::Dimension], select: &mut SelectStatement);
    /// The counts measured in each group, as (alias, SQL); the first counts every row.
    fn counts(&self) -> Vec<(&'static str, Expr)>;
    /// How a group's counts add up: (whole, parts), by position in [`Fact::counts`].
    fn relations(&self) -> Vec<(usize, Vec<usize>)>;
    /// Durations whose value is reported, as (alias, SQL, the count whose rows they describe).
    fn durations(&self, backend: DatabaseBackend) -> Vec<(&'static str, Expr, usize)>;
    /// Sums that count no people (a programme's target, its budget), as (alias, SQL): published as they
    /// are, never suppressed. The SQL must return a 64-bit integer.
    fn sums(&self) -> Vec<(&'static str, Expr)> {
        Vec::new()
    }
}

/// Limits and conventions of one statistics request.
pub struct Settings {
    pub minimum_cell_size: u64,
    pub offset: FixedOffset,
    pub max_buckets: usize,
}

/// One published group: its key, its counts (suppressed where needed), its durations and its sums.
pub struct PublishedGroup {
    pub key: GroupKey,
    pub cells: Vec<Cell>,
    pub durations: Vec<Option<f64>>,
    pub sums: Vec<i64>,
}

impl PublishedGroup {
    /// The `i`th duration of [`Fact::durations`]; `None` when it was not computed or is suppressed.
    pub fn duration(&self, i: usize) -> Option<f64> {
        self.durations.get(i).copied().flatten()
    }

    /// The `i`th sum of [`Fact::sums`] (0 for a group nothing was counted in).
    pub fn sum(&self, i: usize) -> i64 {
        self.sums.get(i).copied().unwrap_or(0)
    }

    /// The share `numerator / denominator` of two counts, when both are published and the denominator
    /// is not zero.
    pub fn rate(&self, numerator: &[usize], denominator: &[usize]) -> Option<f64> {
        let sum = |cells: &[usize]| cells.iter().map(|&i| self.cells[i].value).sum::<Option<i64>>();
        match (sum(numerator), sum(denominator)) {
            (Some(n), Some(d)) if d > 0 => Some(n as f64 / d as f64),
            _ => None,
        }
    }
}

/// The figures of a statistics request.
pub struct Published {
    pub total: PublishedGroup,
    pub groups: Vec<PublishedGroup>,
}

/// Runs a statistics request for `fact`.
pub async fn run<F: Fact>(
    db: &DatabaseConnection,
    fact: &F,
    group_by: &[F::Dimension],
    period: Option<StatsPeriod>,
    mut condition: Condition,
    settings: &Settings,
) -> AppResult<Published> {
    if group_by.len() > 2 {
        return Err(AppError::bad_input("groupBy", "group by at most two dimensions"));
    }
    if group_by.len() == 2 && group_by[0] == group_by[1] {
        return Err(AppError::bad_input("groupBy", "the two dimensions must differ"));
    }
    let times: Vec<(usize, Bucket)> =
        group_by.iter().enumerate().filter_map(|(i, d)| fact.bucket(*d).map(|bucket| (i, bucket))).collect();
    if times.len() > 1 {
        return Err(AppError::bad_input("groupBy", "group by at most one time dimension"));
    }
    let time = times.first().copied();
    let labels = match (time, period) {
        (None, _) => Vec::new(),
        (Some(_), None) => {
            return Err(AppError::bad_input("period", "a time dimension needs a `period` (from and before)"));
        }
        (Some((_, bucket)), Some(period)) => buckets(bucket, period, settings.offset, settings.max_buckets)?,
    };
    if let Some(period) = period {
        if period.before <= period.from {
            return Err(AppError::bad_input("period", "`period.before` must be later than `period.from`"));
        }
        if time.is_some() {
            condition = condition
                .add(Expr::cust(fact.time_column()).gte(period.from))
                .add(Expr::cust(fact.time_column()).lt(period.before));
        }
    }

    let backend = db.get_database_backend();
    let statement = statement(fact, group_by, condition, backend, settings.offset);
    let rows = db.query_all(&statement).await?;
    let counts = fact.counts();
    let durations = fact.durations(backend);
    let sums = fact.sums();
    let mut total: Option<Measured> = None;
    let mut counted: BTreeMap<GroupKey, Measured> = BTreeMap::new();
    for row in rows {
        let mut values = Vec::with_capacity(counts.len());
        for (alias, _) in &counts {
            let value: Option<i64> = row.try_get("", alias)?;
            values.push(std::cmp::max(value.unwrap_or(0), 0) as u64);
        }
        let mut measured = Vec::with_capacity(durations.len());
        for (alias, _, _) in &durations {
            measured.push(row.try_get::<Option<f64>>("", alias)?);
        }
        let mut summed = Vec::with_capacity(sums.len());
        for (alias, _) in &sums {
            summed.push(row.try_get::<Option<i64>>("", alias)?.unwrap_or(0));
        }
        let measured = Measured { counts: values, durations: measured, sums: summed };
        if row.try_get::<i32>("", "is_total")? == 1 {
            total = Some(measured);
        } else {
            counted.insert((row.try_get("", "d0")?, row.try_get("", "d1")?), measured);
        }
    }
    let total = total.unwrap_or_else(|| Measured {
        counts: vec![0; counts.len()],
        durations: vec![None; durations.len()],
        sums: vec![0; sums.len()],
    });

    let keys = keys(&counted, time.map(|(position, _)| position), group_by.len(), &labels);
    let additive: Vec<bool> = group_by.iter().map(|d| fact.additive(*d)).collect();
    let described: Vec<usize> = durations.iter().map(|(_, _, of)| *of).collect();
    Ok(publish(&fact.relations(), &described, keys, &counted, total, &additive, settings.minimum_cell_size))
}

/// One statement: the groups, and (UNION ALL) the total over all matching rows.
fn statement<F: Fact>(
    fact: &F,
    group_by: &[F::Dimension],
    condition: Condition,
    backend: DatabaseBackend,
    offset: FixedOffset,
) -> SelectStatement {
    let measures = |select: &mut SelectStatement| {
        for (alias, expr) in fact.counts() {
            select.expr_as(expr, alias);
        }
        for (alias, expr, _) in fact.durations(backend) {
            select.expr_as(expr, alias);
        }
        for (alias, expr) in fact.sums() {
            select.expr_as(expr, alias);
        }
    };
    let mut total = Query::select();
    total.expr_as(Expr::cust("1"), "is_total").expr_as(Expr::cust("NULL"), "d0").expr_as(Expr::cust("NULL"), "d1");
    measures(&mut total);
    fact.source(&mut total);
    total.cond_where(condition.clone());
    if group_by.is_empty() {
        return total;
    }
    let mut groups = Query::select();
    groups.expr_as(Expr::cust("0"), "is_total");
    for (i, alias) in ["d0", "d1"].into_iter().enumerate() {
        match group_by.get(i) {
            Some(dimension) => {
                let expr = match fact.bucket(*dimension) {
                    Some(bucket) => bucket_expr(bucket, fact.time_column(), backend, offset),
                    None => fact.dimension(*dimension, backend),
                };
                groups.expr_as(expr.clone(), alias).add_group_by([expr]);
            }
            None => {
                groups.expr_as(Expr::cust("NULL"), alias);
            }
        }
    }
    measures(&mut groups);
    fact.source(&mut groups);
    fact.join(group_by, &mut groups);
    groups.cond_where(condition);
    total.union(UnionType::All, groups);
    total
}

/// Every group to publish: those counted, plus empty time buckets (for each value of the other dimension).
fn keys<V>(
    counted: &BTreeMap<GroupKey, V>,
    time: Option<usize>,
    dimensions: usize,
    labels: &[String],
) -> Vec<GroupKey> {
    let mut keys: BTreeSet<GroupKey> = counted.keys().cloned().collect();
    if let Some(position) = time {
        let others: BTreeSet<Option<String>> = if dimensions == 1 {
            BTreeSet::from([None])
        } else {
            counted.keys().map(|(a, b)| if position == 0 { b.clone() } else { a.clone() }).collect()
        };
        for label in labels {
            for other in &others {
                let label = Some(label.clone());
                keys.insert(if position == 0 { (label, other.clone()) } else { (other.clone(), label) });
            }
        }
    }
    keys.into_iter().collect()
}

/// What the statement returned for one group (or the total).
struct Measured {
    counts: Vec<u64>,
    durations: Vec<Option<f64>>,
    sums: Vec<i64>,
}

/// Suppresses the counts and shapes the groups.
fn publish(
    relations: &[(usize, Vec<usize>)],
    described: &[usize],
    keys: Vec<GroupKey>,
    counted: &BTreeMap<GroupKey, Measured>,
    total: Measured,
    additive: &[bool],
    k: u64,
) -> Published {
    let measures = total.counts.len();
    let mut counts: Vec<u64> = Vec::new();
    let mut equations: Vec<Equation> = Vec::new();
    let mut push_group = |counts: &mut Vec<u64>, values: &[u64]| {
        let base = counts.len();
        counts.extend_from_slice(values);
        for (whole, parts) in relations {
            equations.push(Equation { whole: base + whole, parts: parts.iter().map(|p| base + p).collect() });
        }
        base
    };
    let empty = Measured { counts: vec![0; measures], durations: Vec::new(), sums: Vec::new() };
    let group_cells: Vec<usize> =
        keys.iter().map(|key| push_group(&mut counts, &counted.get(key).unwrap_or(&empty).counts)).collect();
    let total_cell = push_group(&mut counts, &total.counts);
    // Along an additive dimension, the groups sharing the other dimension's value add up to a margin: the
    // total itself for one dimension, otherwise a figure a coarser request publishes.
    for (axis, _) in additive.iter().enumerate().filter(|(_, additive)| **additive) {
        let mut lines: BTreeMap<Option<String>, Vec<usize>> = BTreeMap::new();
        for (key, &cell) in keys.iter().zip(&group_cells) {
            lines.entry(if axis == 0 { key.1.clone() } else { key.0.clone() }).or_default().push(cell);
        }
        for cells in lines.values() {
            for measure in 0..measures {
                let parts: Vec<usize> = cells.iter().map(|cell| cell + measure).collect();
                let whole = if additive.len() == 1 {
                    total_cell + measure
                } else {
                    counts.push(parts.iter().map(|&i| counts[i]).sum());
                    counts.len() - 1
                };
                equations.push(Equation { whole, parts });
            }
        }
    }
    let hidden = suppress(&counts, &equations, k);
    let group = |key: GroupKey, base: usize, measured: &Measured| PublishedGroup {
        key,
        cells: (0..measures).map(|m| Cell::new(counts[base + m], hidden[base + m])).collect(),
        // A duration describes the rows of one count: published only when that count is, and not zero.
        durations: described
            .iter()
            .enumerate()
            .map(|(i, of)| {
                let described = base + of;
                measured.durations.get(i).copied().flatten().filter(|_| !hidden[described] && counts[described] > 0)
            })
            .collect(),
        sums: measured.sums.clone(),
    };
    let groups = keys
        .iter()
        .zip(&group_cells)
        .map(|(key, &base)| group(key.clone(), base, counted.get(key).unwrap_or(&empty)))
        .collect();
    Published { total: group((None, None), total_cell, &total), groups }
}

/// The SQL of a time bucket, formatted exactly as [`bucket_label`] formats it, in the city's time zone.
fn bucket_expr(bucket: Bucket, column: &str, backend: DatabaseBackend, offset: FixedOffset) -> Expr {
    let hours = offset.local_minus_utc() / 3600;
    if backend == DatabaseBackend::Postgres {
        let format = match bucket {
            Bucket::Day => "YYYY-MM-DD",
            Bucket::Week => "IYYY-\"W\"IW",
            Bucket::Month => "YYYY-MM",
            Bucket::Quarter => "YYYY-\"Q\"Q",
            Bucket::Year => "YYYY",
        };
        return Expr::cust(format!("to_char({column} AT TIME ZONE INTERVAL '{hours:+03}:00', '{format}')"));
    }
    let local = |format: &str| format!("strftime('{format}', {column}, '{hours:+} hours')");
    Expr::cust(match bucket {
        Bucket::Day => local("%Y-%m-%d"),
        Bucket::Week => local("%G-W%V"),
        Bucket::Month => local("%Y-%m"),
        Bucket::Quarter => format!("{} || '-Q' || ((CAST({} AS INTEGER) + 2) / 3)", local("%Y"), local("%m")),
        Bucket::Year => local("%Y"),
    })
}

/// The label of the bucket a local date falls in.
fn bucket_label(bucket: Bucket, day: NaiveDate) -> String {
    match bucket {
        Bucket::Day => day.format("%Y-%m-%d").to_string(),
        Bucket::Week => {
            let week = day.iso_week();
            format!("{:04}-W{:02}", week.year(), week.week())
        }
        Bucket::Month => day.format("%Y-%m").to_string(),
        Bucket::Quarter => format!("{:04}-Q{}", day.year(), day.month0() / 3 + 1),
        Bucket::Year => format!("{:04}", day.year()),
    }
}

/// Every bucket label of `period`, in order.
fn buckets(bucket: Bucket, period: StatsPeriod, offset: FixedOffset, max: usize) -> AppResult<Vec<String>> {
    if period.before <= period.from {
        return Err(AppError::bad_input("period", "`period.before` must be later than `period.from`"));
    }
    let first = period.from.with_timezone(&offset).date_naive();
    let last = (period.before - Duration::seconds(1)).with_timezone(&offset).date_naive();
    let mut labels: Vec<String> = Vec::new();
    let mut day = first;
    while day <= last {
        let label = bucket_label(bucket, day);
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

/// The percentile `fraction` of `days` (an SQL expression) over rows where `when` holds: exact and
/// interpolated alike on both databases (SQLite is built with its percentile functions for this).
pub fn percentile(backend: DatabaseBackend, days: &str, when: &str, fraction: f64) -> Expr {
    if backend == DatabaseBackend::Postgres {
        Expr::cust(format!("percentile_cont({fraction}) WITHIN GROUP (ORDER BY {days}) FILTER (WHERE {when})"))
    } else {
        Expr::cust(format!("percentile_cont(CASE WHEN {when} THEN {days} END, {fraction})"))
    }
}

/// Days between two instant columns, as SQL.
pub fn days_between(backend: DatabaseBackend, from: &str, to: &str) -> String {
    if backend == DatabaseBackend::Postgres {
        format!("(EXTRACT(EPOCH FROM ({to} - {from})) / 86400.0)")
    } else {
        format!("(julianday({to}) - julianday({from}))")
    }
}

/// `SUM(CASE WHEN when THEN 1 ELSE 0 END)`: the rows of a group where `when` holds.
pub fn count_where(when: &str) -> Expr {
    Expr::cust(format!("SUM(CASE WHEN {when} THEN 1 ELSE 0 END)"))
}

/// A UUID column as text (for keys), on either database.
pub fn uuid_text(backend: DatabaseBackend, column: &str) -> Expr {
    if backend == DatabaseBackend::Postgres {
        Expr::cust(format!("CAST({column} AS TEXT)"))
    } else {
        // hex(NULL) is '', not NULL.
        Expr::cust(format!("CASE WHEN {column} IS NULL THEN NULL ELSE lower(hex({column})) END"))
    }
}

/// `now`, unless a past `as_of` is asked for; a future one is refused.
pub fn as_of(requested: Option<DateTime<Utc>>) -> AppResult<DateTime<Utc>> {
    let now = Utc::now();
    match requested {
        Some(instant) if instant > now => Err(AppError::bad_input("asOf", "`asOf` must not be in the future")),
        Some(instant) => Ok(instant),
        None => Ok(now),
    }
}

//! The engine behind the statistics fields: one grouped SQL statement per request, empty time buckets
//! filled in, then disclosure control over every published count.
//!
//! Each kind of fact (cases, referrals) describes itself through [`Fact`]: the table it reads, its
//! dimensions as SQL expressions, the counts it measures and how they add up, and the durations whose
//! percentiles it reports. The statement groups in the database and returns one row per group, plus
//! (UNION ALL) one row for the total; nothing but those rows reaches Rust. Next to each count it sums
//! the record keys of the rows counted (the cell key of the
//! [`perturbation`](crate::service::perturbation)), so perturbing costs no second statement.
//!
//! Exact figures (STAFF with `exact: true`) are the true counts. Every other request is published
//! through disclosure control: each count, totals and the margins it adds up to included, is perturbed
//! by its own cell key; groups whose every count comes out 0 are not listed (so a missing group, like a
//! 0, no longer proves an empty cell); perturbed counts from 1 to k-1 are hidden and the table is
//! audited ([`suppression`](crate::service::suppression)); rates are worked out from the published
//! counts; durations are published only for groups well above k, rounded.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement, UnionType};
use sea_orm::{Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection};

use crate::error::{AppError, AppResult};
use crate::service::perturbation::{PTable, cell_key};
use crate::service::suppression::{Equation, Hidden, suppress};

/// The values of up to two grouping dimensions, as the statement returns them.
pub type GroupKey = (Option<String>, Option<String>);

/// One published count: its value, or none when it is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    /// The (perturbed, unless exact) count; `None` when suppressed.
    pub value: Option<i64>,
    /// Whether the count is hidden.
    pub suppressed: bool,
}

impl Cell {
    pub fn new(count: u64, hidden: bool) -> Cell {
        Cell { value: (!hidden).then_some(count as i64), suppressed: hidden }
    }
}

/// The span of time the time buckets of a request cover: `from` included, `before` not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub before: DateTime<Utc>,
}

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
    /// The dimensions it can be grouped by.
    type Dimension: Copy + Eq + std::fmt::Debug;

    /// Adds the rows to count as the statement's FROM, under the table's own name.
    fn source(&self, select: &mut SelectStatement);
    /// Adds the rows the total counts as the statement's FROM, under the same name: the source, unless
    /// its rows repeat a record once per value of a dimension (a tally by category counts a case once
    /// per category, so its total must come from rows that hold each case once).
    fn total_source(&self, select: &mut SelectStatement) {
        self.source(select);
    }
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
    /// The record-key column of the rows counted, as SQL (see [`Count`]).
    fn record_key(&self) -> &'static str;
    /// The counts measured in each group, by alias; the first counts every row.
    fn counts(&self) -> Vec<(&'static str, Count)>;
    /// How a group's counts add up: (whole, parts), by position in [`Fact::counts`].
    fn relations(&self) -> Vec<(usize, Vec<usize>)>;
    /// Durations whose value is reported, as (alias, SQL, the count whose rows they describe).
    fn durations(&self, backend: DatabaseBackend) -> Vec<(&'static str, Expr, usize)>;
    /// Where the durations can be read by rank instead of computed in the statement: a table holding
    /// them in order for each group (see [`Ranked`]). `None` (the default) computes them in the statement.
    fn ranked(&self) -> Option<Ranked> {
        None
    }
    /// Sums that count no people (a programme's target, its budget), as (alias, SQL): published as they
    /// are, never suppressed. The SQL must return a 64-bit integer.
    fn sums(&self) -> Vec<(&'static str, Expr)> {
        Vec::new()
    }
}

/// A table that holds, for each value of the one grouping dimension (and for the total, under its own
/// group), the values of the durations of [`Fact::durations`] with an index on (group, value): the
/// percentile of a group of n is then read from the rows at two ranks, as `percentile_cont` would
/// interpolate them, without sorting the group. Each duration's count must count exactly the group's
/// rows of the table.
pub struct Ranked {
    /// The table.
    pub table: &'static str,
    /// Its group column: the value of the grouping dimension.
    pub group: &'static str,
    /// Its value column.
    pub value: &'static str,
    /// The group holding every row the total describes.
    pub total: &'static str,
    /// The fraction of each duration (0.5 for a median), in the order of [`Fact::durations`].
    pub fractions: Vec<f64>,
    /// What precedes the group in the group column, for each duration (a table holding several kinds of
    /// duration tells them apart so): empty for a table of one kind.
    pub prefixes: Vec<&'static str>,
}

/// What a count counts in each group. The engine turns it into two SQL expressions of the same
/// statement: the count, and the sum of the record keys of the rows it counts (the count's cell key).
pub enum Count {
    /// Every row of the group.
    All,
    /// The rows of the group where this SQL condition holds.
    When(String),
    /// Anything else: SQL for the count and SQL for the sum of the record keys of what it counts, both
    /// returning a 64-bit integer (or NULL for none).
    Custom { count: String, key: String },
}

impl Count {
    fn count_sql(&self) -> Expr {
        match self {
            Count::All => Expr::cust("COUNT(*)"),
            Count::When(when) => count_where(when),
            Count::Custom { count, .. } => Expr::cust(count.clone()),
        }
    }

    /// PostgreSQL sums integers into a bigint, bigints into a numeric: cast back.
    fn key_sql(&self, record_key: &str) -> Expr {
        Expr::cust(match self {
            Count::All => format!("CAST(SUM({record_key}) AS BIGINT)"),
            Count::When(when) => format!("CAST(SUM(CASE WHEN {when} THEN {record_key} ELSE 0 END) AS BIGINT)"),
            Count::Custom { key, .. } => format!("CAST({key} AS BIGINT)"),
        })
    }
}

/// Limits and conventions of one statistics request.
pub struct Settings {
    pub minimum_cell_size: u64,
    pub offset: FixedOffset,
    pub max_buckets: usize,
    /// Whether figures may be read from the [`tallies`](crate::service::tallies) when they hold them.
    pub tallies: bool,
    /// How figures are published: `None` for exact figures, otherwise through disclosure control.
    pub disclosure: Option<Disclosure>,
}

/// The disclosure control of a non-exact request.
#[derive(Clone)]
pub struct Disclosure {
    /// The p-table that perturbs every count.
    pub table: Arc<PTable>,
    /// Durations (medians, percentiles) are published only for counts of at least this many.
    pub percentile_minimum: u64,
}

impl Disclosure {
    /// The published value of a count of `count` rows whose record keys sum to `keys`.
    pub fn perturb(&self, count: u64, keys: i64) -> u64 {
        self.table.perturb(count, cell_key(keys))
    }
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

    /// The rate `numerator / denominator` of the published counts (sums of counts), when all are
    /// published and the denominator is not zero.
    pub fn rate(&self, numerator: &[usize], denominator: &[usize]) -> Option<f64> {
        let sum = |cells: &[usize]| cells.iter().map(|&i| self.cells[i].value).sum::<Option<i64>>();
        match (sum(numerator), sum(denominator)) {
            (Some(n), Some(d)) if d > 0 => Some(n as f64 / d as f64),
            _ => None,
        }
    }

    /// A share (0 to 1) of the published counts: [`rate`](Self::rate), at most 1. Perturbed counts are
    /// perturbed independently, so a part can come out larger than its whole.
    pub fn share(&self, numerator: &[usize], denominator: &[usize]) -> Option<f64> {
        self.rate(numerator, denominator).map(|rate| rate.min(1.0))
    }
}

/// The figures of a statistics request.
pub struct Published {
    pub total: PublishedGroup,
    pub groups: Vec<PublishedGroup>,
    /// The counts published (groups and total, every measure): what the request costs its key.
    pub cells: u64,
}

/// Runs a statistics request for `fact`.
pub async fn run<F: Fact>(
    db: &DatabaseConnection,
    fact: &F,
    group_by: &[F::Dimension],
    period: Option<Period>,
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
    let keyed = settings.disclosure.is_some();
    let counts = fact.counts();
    let durations = fact.durations(backend);
    let ranked = fact.ranked();
    let sums = fact.sums();
    // When every row falls in exactly one group, the total's counts and key sums are the sums of the
    // groups': the statement then reads the rows once, not once more for the total. Durations computed
    // in the statement (a median is no sum) and sums of facts that split no further need the total's own.
    let total_from_groups = !group_by.is_empty()
        && group_by.iter().all(|dimension| fact.additive(*dimension))
        && (durations.is_empty() || ranked.is_some())
        && sums.is_empty();
    let statement = statement(fact, group_by, condition, backend, settings.offset, keyed, !total_from_groups);
    let rows = db.query_all(&statement).await?;
    let mut total: Option<Measured> = None;
    let mut counted: BTreeMap<GroupKey, Measured> = BTreeMap::new();
    for row in rows {
        let mut values = Vec::with_capacity(counts.len());
        let mut keys = Vec::with_capacity(counts.len());
        for (alias, _) in &counts {
            let value: Option<i64> = row.try_get("", alias)?;
            values.push(std::cmp::max(value.unwrap_or(0), 0) as u64);
            if keyed {
                keys.push(row.try_get::<Option<i64>>("", &key_alias(alias))?.unwrap_or(0));
            } else {
                keys.push(0);
            }
        }
        let mut measured = Vec::with_capacity(durations.len());
        for (alias, _, _) in &durations {
            measured.push(match ranked {
                Some(_) => None,
                None => row.try_get::<Option<f64>>("", alias)?,
            });
        }
        let mut summed = Vec::with_capacity(sums.len());
        for (alias, _) in &sums {
            summed.push(row.try_get::<Option<i64>>("", alias)?.unwrap_or(0));
        }
        let measured = Measured { counts: values, keys, durations: measured, sums: summed };
        if row.try_get::<i32>("", "is_total")? == 1 {
            total = Some(measured);
        } else {
            counted.insert((row.try_get("", "d0")?, row.try_get("", "d1")?), measured);
        }
    }
    let mut total = total.unwrap_or_else(|| Measured::empty(counts.len(), durations.len(), sums.len()));
    if total_from_groups {
        for measured in counted.values() {
            for (sum, count) in total.counts.iter_mut().zip(&measured.counts) {
                *sum += count;
            }
            for (sum, key) in total.keys.iter_mut().zip(&measured.keys) {
                *sum = sum.wrapping_add(*key);
            }
        }
    }
    if let Some(ranked) = &ranked {
        let of: Vec<usize> = durations.iter().map(|(_, _, of)| *of).collect();
        rank_durations(db, ranked, &of, &mut counted, &mut total).await?;
    }

    // Groups whose every count is published as 0 are not listed (nor a programme group without target
    // or budget): a missing group is then no proof of an empty one.
    let listed: BTreeSet<GroupKey> = counted
        .iter()
        .filter(|(_, measured)| match &settings.disclosure {
            None => true,
            Some(disclosure) => {
                measured.counts.iter().zip(&measured.keys).any(|(&count, &keys)| disclosure.perturb(count, keys) > 0)
                    || measured.sums.iter().any(|&sum| sum != 0)
            }
        })
        .map(|(key, _)| key.clone())
        .collect();
    let keys = keys(&listed, time.map(|(position, _)| position), group_by.len(), &labels);
    let additive: Vec<bool> = group_by.iter().map(|d| fact.additive(*d)).collect();
    let described: Vec<usize> = durations.iter().map(|(_, _, of)| *of).collect();
    Ok(publish(&fact.relations(), &described, keys, &counted, total, &additive, settings))
}

/// Reads the durations of every group and of the total by rank from `ranked`, in one statement: for a
/// group of n rows and a fraction p, the rows at ranks floor(p(n-1)) and the next, interpolated exactly
/// as PostgreSQL's and SQLite's `percentile_cont` do. `of` gives the count each duration describes.
async fn rank_durations(
    db: &DatabaseConnection,
    ranked: &Ranked,
    of: &[usize],
    counted: &mut BTreeMap<GroupKey, Measured>,
    total: &mut Measured,
) -> AppResult<()> {
    // Each wanted value: (group, duration, fractional rank, first rank, rows in the group).
    let mut wanted: Vec<(Option<GroupKey>, usize, f64, u64, u64)> = Vec::new();
    let groups = counted.iter().map(|(key, measured)| (Some(key), measured));
    for (key, measured) in groups.chain([(None, &*total)]) {
        let described = of.iter().map(|&i| measured.counts.get(i).copied().unwrap_or(0));
        for (duration, (count, &fraction)) in described.zip(&ranked.fractions).enumerate() {
            if count == 0 || key.is_some_and(|(group, _)| group.is_none()) {
                continue;
            }
            let rank = fraction * (count - 1) as f64;
            wanted.push((key.cloned(), duration, rank, rank.floor() as u64, count));
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let parts: Vec<String> = wanted
        .iter()
        .enumerate()
        .map(|(i, (key, duration, _, first, count))| {
            let group = key.as_ref().and_then(|(group, _)| group.as_deref()).unwrap_or(ranked.total);
            let group = format!("{}{group}", ranked.prefixes.get(*duration).copied().unwrap_or_default());
            // The index is read from whichever end is nearer (a 90th percentile from the top).
            let (order, offset, limit) = match (first + 1 < *count, *first > *count / 2) {
                (true, false) => ("ASC", *first, 2),
                (true, true) => ("DESC", count - 2 - first, 2),
                (false, _) => ("DESC", 0, 1),
            };
            format!(
                "SELECT CAST({i} AS BIGINT) AS q, CAST(r.v AS DOUBLE PRECISION) AS v FROM (SELECT {value} AS v FROM {table} \
                 WHERE {column} = '{group}' ORDER BY {value} {order} LIMIT {limit} OFFSET {offset}) r",
                value = ranked.value,
                table = ranked.table,
                column = ranked.group,
                group = group.replace('\'', "''"),
            )
        })
        .collect();
    let backend = db.get_database_backend();
    let rows = db.query_all_raw(sea_orm::Statement::from_string(backend, parts.join(" UNION ALL "))).await?;
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); wanted.len()];
    for row in rows {
        let q: i64 = row.try_get("", "q")?;
        let v: f64 = row.try_get("", "v")?;
        if let Some(found) = usize::try_from(q).ok().and_then(|q| values.get_mut(q)) {
            found.push(v);
        }
    }
    for ((key, duration, rank, first, _), mut found) in wanted.into_iter().zip(values) {
        found.sort_by(f64::total_cmp);
        let value = match found.as_slice() {
            [] => None,
            [low] => Some(*low),
            [low, high, ..] => {
                Some(if rank > first as f64 { low + (high - low) * (rank - first as f64) } else { *low })
            }
        };
        let measured = match &key {
            Some(key) => counted.get_mut(key),
            None => Some(&mut *total),
        };
        if let Some(slot) = measured.and_then(|measured| measured.durations.get_mut(duration)) {
            *slot = value;
        }
    }
    Ok(())
}

/// The alias of the sum of record keys of the count `alias`.
fn key_alias(alias: &str) -> String {
    format!("{alias}_key")
}

/// One statement: the groups, and (UNION ALL, unless `with_total` is false) the total over all matching
/// rows; with `keyed`, each count comes with the sum of its rows' record keys.
fn statement<F: Fact>(
    fact: &F,
    group_by: &[F::Dimension],
    condition: Condition,
    backend: DatabaseBackend,
    offset: FixedOffset,
    keyed: bool,
    with_total: bool,
) -> SelectStatement {
    let measures = |select: &mut SelectStatement| {
        for (alias, count) in fact.counts() {
            select.expr_as(count.count_sql(), alias);
            if keyed {
                select.expr_as(count.key_sql(fact.record_key()), Alias::new(key_alias(alias)));
            }
        }
        if fact.ranked().is_none() {
            for (alias, expr, _) in fact.durations(backend) {
                select.expr_as(expr, alias);
            }
        }
        for (alias, expr) in fact.sums() {
            select.expr_as(expr, alias);
        }
    };
    let mut total = Query::select();
    total.expr_as(Expr::cust("1"), "is_total").expr_as(Expr::cust("NULL"), "d0").expr_as(Expr::cust("NULL"), "d1");
    measures(&mut total);
    fact.total_source(&mut total);
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
    if !with_total {
        return groups;
    }
    total.union(UnionType::All, groups);
    total
}

/// Every group to publish: those listed, plus empty time buckets (for each value of the other dimension).
fn keys(listed: &BTreeSet<GroupKey>, time: Option<usize>, dimensions: usize, labels: &[String]) -> Vec<GroupKey> {
    let mut keys: BTreeSet<GroupKey> = listed.clone();
    if let Some(position) = time {
        let others: BTreeSet<Option<String>> = if dimensions == 1 {
            BTreeSet::from([None])
        } else {
            listed.iter().map(|(a, b)| if position == 0 { b.clone() } else { a.clone() }).collect()
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
    /// The sums of record keys of each count (zeros for exact figures).
    keys: Vec<i64>,
    durations: Vec<Option<f64>>,
    sums: Vec<i64>,
}

impl Measured {
    fn empty(counts: usize, durations: usize, sums: usize) -> Measured {
        Measured {
            counts: vec![0; counts],
            keys: vec![0; counts],
            durations: vec![None; durations],
            sums: vec![0; sums],
        }
    }
}

/// The cells of a request, as disclosure control sees them: true counts, key sums, the published
/// (perturbed or exact) values, and the equations between their true counts.
#[derive(Default)]
struct Table {
    counts: Vec<u64>,
    keys: Vec<i64>,
    published: Vec<u64>,
    equations: Vec<Equation>,
}

impl Table {
    fn push(&mut self, count: u64, keys: i64, disclosure: Option<&Disclosure>) -> usize {
        self.counts.push(count);
        self.keys.push(keys);
        self.published.push(disclosure.map_or(count, |d| d.perturb(count, keys)));
        self.counts.len() - 1
    }

    /// A group's counts, with the equations between them; returns the index of its first count.
    fn push_group(
        &mut self,
        measured: &Measured,
        relations: &[(usize, Vec<usize>)],
        disclosure: Option<&Disclosure>,
    ) -> usize {
        let base = self.counts.len();
        for (&count, &keys) in measured.counts.iter().zip(&measured.keys) {
            self.push(count, keys, disclosure);
        }
        for (whole, parts) in relations {
            self.equations.push(Equation { whole: base + whole, parts: parts.iter().map(|p| base + p).collect() });
        }
        base
    }
}

/// Perturbs (unless exact), suppresses and audits the counts, and shapes the groups.
fn publish(
    relations: &[(usize, Vec<usize>)],
    described: &[usize],
    keys: Vec<GroupKey>,
    counted: &BTreeMap<GroupKey, Measured>,
    total: Measured,
    additive: &[bool],
    settings: &Settings,
) -> Published {
    let disclosure = settings.disclosure.as_ref();
    let measures = total.counts.len();
    let empty = Measured::empty(measures, 0, 0);
    let mut table = Table::default();
    let group_cells: Vec<usize> =
        keys.iter().map(|key| table.push_group(counted.get(key).unwrap_or(&empty), relations, disclosure)).collect();
    // Groups counted but not listed still bind the lines they belong to: a reader knows they exist
    // somewhere among the missing ones.
    let listed: BTreeSet<&GroupKey> = keys.iter().collect();
    let unlisted: Vec<(GroupKey, usize)> = counted
        .iter()
        .filter(|(key, _)| !listed.contains(key))
        .map(|(key, measured)| (key.clone(), table.push_group(measured, relations, disclosure)))
        .collect();
    let total_cell = table.push_group(&total, relations, disclosure);
    // Along an additive dimension, the groups sharing the other dimension's value add up to a margin: the
    // total itself for one dimension, otherwise a figure a coarser request publishes (perturbed by the
    // cell key of its records, which is the sum of the groups' keys), and the margins to the total.
    let every: Vec<(&GroupKey, usize)> =
        keys.iter().zip(group_cells.iter().copied()).chain(unlisted.iter().map(|(key, cell)| (key, *cell))).collect();
    for (axis, _) in additive.iter().enumerate().filter(|(_, additive)| **additive) {
        let mut lines: BTreeMap<Option<String>, Vec<usize>> = BTreeMap::new();
        for (key, cell) in &every {
            lines.entry(if axis == 0 { key.1.clone() } else { key.0.clone() }).or_default().push(*cell);
        }
        let mut margins: Vec<Vec<usize>> = vec![Vec::new(); measures];
        for cells in lines.values() {
            for (measure, margin_cells) in margins.iter_mut().enumerate() {
                let parts: Vec<usize> = cells.iter().map(|cell| cell + measure).collect();
                let whole = if additive.len() == 1 {
                    total_cell + measure
                } else {
                    let count = parts.iter().map(|&i| table.counts[i]).sum();
                    let keys = parts.iter().map(|&i| table.keys[i]).sum();
                    let margin = table.push(count, keys, disclosure);
                    margin_cells.push(margin);
                    margin
                };
                table.equations.push(Equation { whole, parts });
            }
        }
        if additive.len() > 1 {
            for (measure, parts) in margins.into_iter().enumerate() {
                table.equations.push(Equation { whole: total_cell + measure, parts });
            }
        }
    }
    let hidden = match disclosure {
        Some(disclosure) => {
            suppress(&table.published, &table.equations, settings.minimum_cell_size, disclosure.table.as_ref())
        }
        None => vec![Hidden::No; table.published.len()],
    };
    let shown = |cell: usize| hidden[cell] == Hidden::No;
    let group = |key: GroupKey, base: usize, measured: &Measured| PublishedGroup {
        key,
        cells: (0..measures).map(|m| Cell::new(table.published[base + m], !shown(base + m))).collect(),
        // A duration describes the rows of one count: published only when that count is, and (for
        // figures under disclosure control) large enough that one person moves it little, rounded.
        durations: described
            .iter()
            .enumerate()
            .map(|(i, of)| {
                let described = base + of;
                let value = measured.durations.get(i).copied().flatten().filter(|_| shown(described));
                match disclosure {
                    None => value.filter(|_| table.published[described] > 0),
                    Some(disclosure) => value
                        .filter(|_| table.published[described] >= std::cmp::max(disclosure.percentile_minimum, 1))
                        .map(f64::round),
                }
            })
            .collect(),
        sums: measured.sums.clone(),
    };
    let groups: Vec<PublishedGroup> = keys
        .iter()
        .zip(&group_cells)
        .map(|(key, &base)| group(key.clone(), base, counted.get(key).unwrap_or(&empty)))
        .collect();
    let cells = (groups.len() as u64 + 1) * measures as u64;
    Published { total: group((None, None), total_cell, &total), groups, cells }
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
fn buckets(bucket: Bucket, period: Period, offset: FixedOffset, max: usize) -> AppResult<Vec<String>> {
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

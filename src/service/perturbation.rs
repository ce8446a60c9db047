//! The cell key method: every published count is perturbed by a small, bounded, zero-mean adjustment
//! that depends only on which records the count counts, so that differencing two requests can no
//! longer recover a small count with certainty.
//!
//! Each record that statistics count (a case, referral, outcome, enrollment, volunteer) carries a random
//! *record key* in `[0, 2^31)`, drawn once when the record is written ([`record_key`]) and never served.
//! A cell's key is the sum of its records' keys modulo 2^31, scaled to `[0, 1)` ([`cell_key`]); the
//! database computes the sum in the same grouped statement that counts (`SUM(record_key)` next to
//! `COUNT(*)`), and because the sum is additive it can also be kept in any pre-aggregated table. The
//! same set of records therefore always gets the same key, however the request was phrased, and the
//! same published value: asking twice teaches nothing new.
//!
//! The *p-table* ([`PTable`]) maps (true count, cell key) to the published count: for each true count
//! `i` it lists the published counts `j` with their probabilities `p`, and the cell key picks one by
//! where it falls in the cumulative probabilities. Every row has mean adjustment zero (unbiased) and a
//! bound `D` on the adjustment; a true zero always stays zero (empty cells are not rows of a grouped
//! statement, so they could not be perturbed anyway), and small counts can become 0, so that a
//! published 0 no longer proves an empty cell. Counts above the last row use the last row's
//! adjustments.
//!
//! The built-in table ([`PTable::built_in`]) has `D = 2` and variance 1. A deployment can replace it
//! with a CSV file (`--ptable`, columns `i,j,p`; see [`PTable::parse`]). The table holds no secret:
//! what makes the noise unpredictable is the record keys, which stay in the database.

use std::sync::{Arc, LazyLock};

use crate::error::{AppError, AppResult};

/// Record keys lie in `[0, RECORD_KEY_RANGE)`, and cell keys are sums modulo it.
pub const RECORD_KEY_RANGE: i64 = 1 << 31;

/// The column every counted table keeps its record keys in. It is no fact about the record: audit
/// snapshots and exports leave it out, and no GraphQL type serves it.
pub const RECORD_KEY_COLUMN: &str = "record_key";

/// A fresh record key, uniformly random in `[0, 2^31)`, from the operating system's generator.
pub fn record_key() -> AppResult<i32> {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Internal(format!("no randomness for a record key: {e}")))?;
    Ok((u32::from_le_bytes(bytes) & 0x7fff_ffff) as i32)
}

/// The key of a cell from the sum of its records' keys: the sum modulo 2^31, scaled to `[0, 1)`.
pub fn cell_key(sum: i64) -> f64 {
    sum.rem_euclid(RECORD_KEY_RANGE) as f64 / RECORD_KEY_RANGE as f64
}

/// Tolerance of the checks on probabilities read from a file (sums to 1, mean zero).
const TOLERANCE: f64 = 1e-6;

/// Largest adjustment a p-table may make: a table is meant to blur small counts, not to invent figures.
pub const MAX_ADJUSTMENT: i64 = 20;

/// One possible outcome of a row: the adjustment and the upper end of its interval of cell keys.
#[derive(Debug, Clone, PartialEq)]
struct Outcome {
    adjustment: i64,
    probability: f64,
    upper: f64,
}

/// A perturbation table: for each true count, the published counts it may become and how likely each
/// is. See the module documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct PTable {
    /// `rows[i]`: the outcomes of true count `i`, by ascending adjustment; the last row serves every
    /// larger count.
    rows: Vec<Vec<Outcome>>,
    /// Where the table came from, for messages and `psm-api ptable`.
    source: String,
}

/// The built-in table as (true count, published count, probability): D = 2, variance 1 from 2 upwards
/// (0.9 for a true 1). A true 1 becomes 0 four times in ten, a true 2 once in thirteen.
pub const BUILT_IN: &[(u64, u64, f64)] = &[
    (0, 0, 1.0),
    (1, 0, 0.4),
    (1, 1, 0.25),
    (1, 2, 0.3),
    (1, 3, 0.05),
    (2, 0, 0.075),
    (2, 1, 0.2),
    (2, 2, 0.45),
    (2, 3, 0.2),
    (2, 4, 0.075),
];

static BUILT_IN_TABLE: LazyLock<Arc<PTable>> = LazyLock::new(|| Arc::new(PTable::build(BUILT_IN, "built-in")));

impl PTable {
    /// The built-in table ([`BUILT_IN`]); the tests check it as [`PTable::parse`] checks a file.
    pub fn built_in() -> &'static PTable {
        &BUILT_IN_TABLE
    }

    /// The built-in table, shared.
    pub fn shared_built_in() -> Arc<PTable> {
        BUILT_IN_TABLE.clone()
    }

    /// A table from entries already checked: rows by ascending adjustment, with their intervals of keys.
    fn build(entries: &[(u64, u64, f64)], source: &str) -> PTable {
        let last = entries.iter().map(|(i, _, _)| *i).max().unwrap_or(0);
        let mut rows: Vec<Vec<Outcome>> = vec![Vec::new(); last as usize + 1];
        for &(i, j, probability) in entries.iter().filter(|(_, _, p)| *p > 0.0) {
            rows[i as usize].push(Outcome { adjustment: j as i64 - i as i64, probability, upper: 0.0 });
        }
        for row in &mut rows {
            if row.is_empty() {
                // Only an unchecked table lacks a row; keeping its counts unchanged is the safe reading.
                row.push(Outcome { adjustment: 0, probability: 1.0, upper: 0.0 });
            }
            row.sort_by_key(|o| o.adjustment);
            let total: f64 = row.iter().map(|o| o.probability).sum();
            let mut upper = 0.0;
            for outcome in row.iter_mut() {
                upper += outcome.probability / total;
                outcome.upper = upper;
            }
            if let Some(outcome) = row.last_mut() {
                // Rounding must not leave a sliver of keys without an outcome.
                outcome.upper = f64::INFINITY;
            }
        }
        PTable { rows, source: source.to_owned() }
    }

    /// Reads a table from a CSV file (see [`PTable::parse`]); the error says what is wrong and where.
    pub fn load(path: &str) -> Result<PTable, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the p-table {path}: {e}"))?;
        PTable::parse(&text, path)
    }

    /// Parses a table: CSV with a header naming the columns `i` (true count), `j` (published count) and
    /// `p` (probability), in any order, quoted or not; other columns are ignored, as are empty lines
    /// and lines starting with `#`. Every true count from 0 to the largest must have a row; each row's
    /// probabilities must add up to 1 and its mean adjustment be 0; a true 0 must stay 0; no adjustment
    /// may exceed [`MAX_ADJUSTMENT`].
    pub fn parse(text: &str, source: &str) -> Result<PTable, String> {
        let mut lines = text.lines().enumerate().filter(|(_, line)| {
            let line = line.trim();
            !line.is_empty() && !line.starts_with('#')
        });
        let (_, header) = lines.next().ok_or_else(|| format!("{source}: empty p-table"))?;
        let names: Vec<String> =
            header.split(',').map(|name| name.trim().trim_matches('"').to_ascii_lowercase()).collect();
        let column = |name: &str| {
            names.iter().position(|n| n == name).ok_or_else(|| format!("{source}: the header has no `{name}` column"))
        };
        let (ci, cj, cp) = (column("i")?, column("j")?, column("p")?);
        let mut entries: Vec<(u64, u64, f64)> = Vec::new();
        for (number, line) in lines {
            let fields: Vec<&str> = line.split(',').map(|field| field.trim().trim_matches('"')).collect();
            let at = |c: usize| fields.get(c).copied().unwrap_or("");
            let wrong = |what: &str| format!("{source}, line {}: {what}", number + 1);
            let i: u64 = at(ci).parse().map_err(|_| wrong("`i` is not a count"))?;
            let j: u64 = at(cj).parse().map_err(|_| wrong("`j` is not a count"))?;
            let p: f64 = at(cp).parse().map_err(|_| wrong("`p` is not a number"))?;
            if !(0.0..=1.0).contains(&p) {
                return Err(wrong("`p` must lie between 0 and 1"));
            }
            if p > 0.0 {
                entries.push((i, j, p));
            }
        }
        let last = entries.iter().map(|(i, _, _)| *i).max().ok_or_else(|| format!("{source}: no rows"))?;
        let mut rows: Vec<Vec<(i64, f64)>> = vec![Vec::new(); last as usize + 1];
        for &(i, j, p) in &entries {
            let adjustment = j as i64 - i as i64;
            if adjustment.abs() > MAX_ADJUSTMENT {
                return Err(format!("{source}: {i} -> {j} adjusts by more than {MAX_ADJUSTMENT}"));
            }
            let row = &mut rows[i as usize];
            if row.iter().any(|(a, _)| *a == adjustment) {
                return Err(format!("{source}: {i} -> {j} is listed twice"));
            }
            row.push((adjustment, p));
        }
        for (i, row) in rows.iter().enumerate() {
            if row.is_empty() {
                return Err(format!("{source}: no row for the true count {i}"));
            }
            let total: f64 = row.iter().map(|(_, p)| p).sum();
            if (total - 1.0).abs() > TOLERANCE {
                return Err(format!("{source}: the probabilities of {i} add up to {total}, not 1"));
            }
            let mean: f64 = row.iter().map(|(a, p)| p * *a as f64).sum();
            if mean.abs() > TOLERANCE {
                return Err(format!("{source}: the adjustments of {i} have mean {mean}, not 0"));
            }
        }
        if rows[0].len() != 1 || rows[0][0].0 != 0 {
            return Err(format!("{source}: a true 0 must stay 0 (the row of 0 must be `0,0,1`)"));
        }
        Ok(PTable::build(&entries, source))
    }

    /// Where the table came from: `built-in` or the file's path.
    pub fn source(&self) -> &str {
        &self.source
    }

    fn row(&self, count: u64) -> &[Outcome] {
        let last = self.rows.len() - 1;
        &self.rows[std::cmp::min(count, last as u64) as usize]
    }

    /// The published value of a cell of `count` records whose key is `key` (in `[0, 1)`).
    pub fn perturb(&self, count: u64, key: f64) -> u64 {
        let row = self.row(count);
        let outcome = row.iter().find(|o| key < o.upper).or(row.last());
        let adjustment = outcome.map_or(0, |o| o.adjustment);
        // Rows never take a count below zero (j >= 0); the last row serves larger counts only.
        (count as i64 + adjustment).max(0) as u64
    }

    /// The true count of the table's last row, which also serves every larger count.
    pub fn last_row(&self) -> u64 {
        self.rows.len() as u64 - 1
    }

    /// The largest adjustment the table makes (D).
    pub fn max_adjustment(&self) -> u64 {
        self.rows.iter().flatten().map(|o| o.adjustment.unsigned_abs()).max().unwrap_or(0)
    }

    /// The outcomes of a true count: (published count, probability), by ascending published count.
    pub fn outcomes(&self, count: u64) -> Vec<(u64, f64)> {
        self.row(count).iter().map(|o| ((count as i64 + o.adjustment).max(0) as u64, o.probability)).collect()
    }

    /// The mean and variance of the adjustment of a true count.
    pub fn moments(&self, count: u64) -> (f64, f64) {
        let row = self.row(count);
        let mean: f64 = row.iter().map(|o| o.probability * o.adjustment as f64).sum();
        let variance = row.iter().map(|o| o.probability * (o.adjustment as f64 - mean).powi(2)).sum();
        (mean, variance)
    }

    /// The smallest and the largest true count that can be published as `published`: what someone who
    /// knows the table learns about a cell from its published value.
    pub fn preimage(&self, published: u64) -> (u64, u64) {
        let reach = self.max_adjustment();
        let candidates = published.saturating_sub(reach)..=published + reach;
        let possible: Vec<u64> =
            candidates.filter(|&i| self.outcomes(i).iter().any(|&(j, p)| j == published && p > 0.0)).collect();
        match (possible.first(), possible.last()) {
            (Some(&low), Some(&high)) => (low, high),
            // No count is published as this; say so widely rather than wrongly.
            _ => (published.saturating_sub(reach), published + reach),
        }
    }

    /// The table as CSV (`i,j,p`), as [`PTable::parse`] reads it.
    pub fn to_csv(&self) -> String {
        let mut csv = String::from("i,j,p\n");
        for (i, _) in self.rows.iter().enumerate() {
            for (j, p) in self.outcomes(i as u64) {
                csv.push_str(&format!("{i},{j},{p}\n"));
            }
        }
        csv
    }
}

//! What a reader of published statistics can work out for certain, written independently of
//! `service::suppression`: each cell starts from what its published value allows under the p-table (a
//! hidden cell: at least 1, at most k-1+D when hidden for being small, anything when hidden by the
//! audit), and every additive equation between true counts narrows its members until nothing moves. A
//! cell whose bounds meet at one count from 1 to k-1 is a small count recovered with certainty.

use psm_api::service::perturbation::PTable;
use serde_json::Value;

/// No upper bound.
pub const NONE: i64 = i64::MAX / 4;

/// Inclusive bounds of a true count.
pub type Bounds = (i64, i64);

/// What a published value says of the true count.
pub fn shown(ptable: &PTable, published: u64) -> Bounds {
    let (low, high) = ptable.preimage(published);
    (low as i64, high as i64)
}

/// What a hidden cell says: at least one record and at most k-1+D when hidden for being small, anything
/// when hidden by the audit.
pub fn hidden(ptable: &PTable, k: u64, small: bool) -> Bounds {
    if small { (1, k as i64 - 1 + ptable.max_adjustment() as i64) } else { (0, NONE) }
}

/// What a published `Cell { value suppressed }` says, for a reader who cannot tell why a cell is hidden
/// and assumes the most it could: that it was hidden for being small.
pub fn cell(ptable: &PTable, k: u64, cell: &Value) -> Bounds {
    match cell["value"].as_i64() {
        Some(value) => shown(ptable, value as u64),
        None => hidden(ptable, k, true),
    }
}

/// Narrows `bounds` through `equations` (whole, parts) until nothing moves.
pub fn propagate(mut bounds: Vec<Bounds>, equations: &[(usize, Vec<usize>)]) -> Vec<Bounds> {
    loop {
        let before = bounds.clone();
        for (whole, parts) in equations {
            let sum = |values: &mut dyn Iterator<Item = i64>| values.fold(0i64, |a, b| a.saturating_add(b)).min(NONE);
            let low = sum(&mut parts.iter().map(|&p| bounds[p].0));
            let high = sum(&mut parts.iter().map(|&p| bounds[p].1));
            let w = &mut bounds[*whole];
            *w = (w.0.max(low), w.1.min(high));
            for (n, &part) in parts.iter().enumerate() {
                let others = || parts.iter().enumerate().filter(move |(m, _)| *m != n).map(|(_, &o)| o);
                let others_high = sum(&mut others().map(|o| bounds[o].1));
                let others_low = sum(&mut others().map(|o| bounds[o].0));
                let (whole_low, whole_high) = bounds[*whole];
                let low = if others_high >= NONE { 0 } else { whole_low - others_high };
                let high = if whole_high >= NONE { NONE } else { whole_high - others_low };
                let b = &mut bounds[part];
                *b = (b.0.max(low), b.1.min(high));
            }
        }
        if bounds == before {
            return bounds;
        }
    }
}

/// The cells pinned to one count from 1 to k-1.
pub fn pinned(bounds: &[Bounds], k: u64) -> Vec<usize> {
    bounds
        .iter()
        .enumerate()
        .filter(|(_, (low, high))| low == high && (1..k as i64).contains(low))
        .map(|(i, _)| i)
        .collect()
}

/// The true counts `difference` of two published values can stand for: every difference of counts the
/// two values allow, at least `floor`.
pub fn differences(
    ptable: &PTable,
    k: u64,
    whole: &Value,
    part: &Value,
    floor: i64,
) -> std::collections::BTreeSet<i64> {
    let (a, b) = (cell(ptable, k, whole), cell(ptable, k, part));
    let mut set = std::collections::BTreeSet::new();
    for x in a.0..=a.1.min(a.0 + 1_000) {
        for y in b.0..=b.1.min(b.0 + 1_000) {
            if x - y >= floor {
                set.insert(x - y);
            }
        }
    }
    set
}

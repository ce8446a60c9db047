//! Small-cell rules on perturbed counts: no published count from 1 to k-1, and no published table from
//! which someone who knows the p-table can pin a count from 1 to k-1 with certainty.
//!
//! The counts this module sees are already perturbed ([`perturbation`](crate::service::perturbation)),
//! so a published count tells a reader only that the true count lies in its *preimage* (the true
//! counts the p-table can publish as that value; `[3, 7]` for a published 5 with the built-in table).
//!
//! 1. **Primary suppression**: a perturbed count from 1 to k-1 (k = the minimum cell size, 5 by
//!    default) is hidden. A perturbed 0 is shown as 0: it may hide a true 1 or 2, so it proves nothing.
//! 2. **The audit** replaces the complementary suppression of exact tables. Published figures are bound
//!    by additive equations between their *true* counts (a total is the sum of its breakdown, open plus
//!    closed cases make all cases). A reader can propagate bounds through them: each cell starts from
//!    its preimage (a hidden cell from `[1, k-1+D]`, or `[1, ∞)` when it was hidden by the audit), and
//!    each equation narrows its members. Perturbation makes the bounds of a line wide, but when every
//!    adjustment of a line sits at its bound the interval of a small cell can shrink to one value. So
//!    while propagation pins some cell to a single count from 1 to k-1, one more published cell of the
//!    equation that pins it is hidden (the smallest, preferring a part to the whole), and the audit
//!    runs again. A published 0 is hidden only when no positive cell of that equation is left to hide
//!    (a total of two published as 0 over two hidden groups would pin both to 1); the audit therefore
//!    reads its own hidden cells as anything from 0 up.
//!
//! The audit propagates bounds equation by equation until they stop moving; it does not solve the
//! linear program a determined reader could set up over many requests. What holds across requests is
//! the perturbation itself: see the README's disclosure section.
//!
//! Callers describe their figures as a list of perturbed counts and a list of equations over them, by
//! index.

/// An additive equation between the true counts behind published cells: `whole` equals the sum of
/// `parts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equation {
    pub whole: usize,
    pub parts: Vec<usize>,
}

/// Whether a single perturbed count must be hidden on its own (primary suppression).
pub fn below_threshold(count: u64, k: u64) -> bool {
    count > 0 && count < k
}

/// Why a cell is hidden, as far as the reader's knowledge of it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hidden {
    /// Shown.
    No,
    /// Hidden because its perturbed count lies from 1 to k-1.
    Primary,
    /// Hidden by the audit, whatever its count (0 included, rarely).
    Audit,
}

/// What a reader knows of each cell's true count: inclusive bounds, `u64::MAX` for no upper bound.
pub type Bounds = (u64, u64);

/// The p-table facts the rules need: the preimage of a published count, and the largest adjustment.
pub trait Preimage {
    /// The smallest and largest true count published as `published`.
    fn preimage(&self, published: u64) -> Bounds;
    /// The largest adjustment (D).
    fn max_adjustment(&self) -> u64;
}

impl Preimage for crate::service::perturbation::PTable {
    fn preimage(&self, published: u64) -> Bounds {
        crate::service::perturbation::PTable::preimage(self, published)
    }
    fn max_adjustment(&self) -> u64 {
        crate::service::perturbation::PTable::max_adjustment(self)
    }
}

/// Decides which of the perturbed `counts` to hide, given the equations that bind their true counts.
/// Returns one flag per count.
pub fn suppress(counts: &[u64], equations: &[Equation], k: u64, table: &impl Preimage) -> Vec<Hidden> {
    let mut hidden: Vec<Hidden> =
        counts.iter().map(|&count| if below_threshold(count, k) { Hidden::Primary } else { Hidden::No }).collect();
    let mut containing: Vec<Vec<usize>> = vec![Vec::new(); counts.len()];
    for (e, equation) in equations.iter().enumerate() {
        for member in members(equation) {
            containing[member].push(e);
        }
    }
    // Every round hides at least one more cell, so this ends; the bound keeps a pathological table
    // from costing more than the statement did.
    for _ in 0..counts.len() {
        let bounds = bounds(counts, &hidden, equations, k, table);
        let mut changed = false;
        for cell in pinned(&bounds, k) {
            // The equation that pins the cell most tightly, and in it the smallest shown positive member
            // other than the cell, parts before the whole; a shown 0 only when no positive one is left.
            let mut best: Option<(u64, usize)> = None;
            let mut tightest = u64::MAX;
            for &e in &containing[cell] {
                let width = implied(cell, &equations[e], &bounds).map_or(u64::MAX, |(low, high)| high - low);
                let candidate = equations[e]
                    .parts
                    .iter()
                    .map(|&i| (false, i))
                    .chain(std::iter::once((true, equations[e].whole)))
                    .filter(|&(_, i)| i != cell && hidden[i] == Hidden::No)
                    .min_by_key(|&(whole, i)| (counts[i] == 0, whole, counts[i], i))
                    .map(|(_, i)| (counts[i], i));
                if let Some(candidate) = candidate
                    && (width < tightest || (width == tightest && best.is_none_or(|b| candidate < b)))
                {
                    tightest = width;
                    best = Some(candidate);
                }
            }
            if let Some((_, i)) = best
                && hidden[i] == Hidden::No
            {
                hidden[i] = Hidden::Audit;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    hidden
}

fn members(equation: &Equation) -> impl Iterator<Item = usize> + '_ {
    std::iter::once(equation.whole).chain(equation.parts.iter().copied())
}

/// What a reader of the published cells (`counts` where not `hidden`) can derive about every cell's true
/// count by propagating bounds through `equations` until they stop moving.
pub fn bounds(counts: &[u64], hidden: &[Hidden], equations: &[Equation], k: u64, table: &impl Preimage) -> Vec<Bounds> {
    let reach = table.max_adjustment();
    let mut bounds: Vec<Bounds> = counts
        .iter()
        .zip(hidden)
        .map(|(&count, hidden)| match hidden {
            Hidden::No => table.preimage(count),
            Hidden::Primary => (1, k.saturating_sub(1).saturating_add(reach)),
            Hidden::Audit => (0, u64::MAX),
        })
        .collect();
    for _ in 0..64 {
        let mut changed = false;
        for equation in equations {
            for cell in members(equation) {
                if let Some((low, high)) = implied(cell, equation, &bounds) {
                    let current = bounds[cell];
                    let narrowed = (current.0.max(low), current.1.min(high));
                    // True counts satisfy every bound, so bounds never cross; if rounding in a custom
                    // table made them, keep what the cell had.
                    if narrowed != current && narrowed.0 <= narrowed.1 {
                        bounds[cell] = narrowed;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    bounds
}

/// The bounds `equation` implies for `cell` given the others' bounds; `None` when it implies nothing.
fn implied(cell: usize, equation: &Equation, bounds: &[Bounds]) -> Option<Bounds> {
    let sum = |cells: &mut dyn Iterator<Item = usize>| -> Bounds {
        cells.fold((0u64, 0u64), |(low, high), i| (low.saturating_add(bounds[i].0), high.saturating_add(bounds[i].1)))
    };
    if cell == equation.whole {
        let (low, high) = sum(&mut equation.parts.iter().copied());
        Some((low, high))
    } else if equation.parts.contains(&cell) {
        let (whole_low, whole_high) = bounds[equation.whole];
        // The other parts, once each (a cell listed twice in the parts counts twice).
        let mut skipped = false;
        let mut others = equation.parts.iter().copied().filter(|&i| {
            if i == cell && !skipped {
                skipped = true;
                false
            } else {
                true
            }
        });
        let (others_low, others_high) = sum(&mut others);
        let low = if others_high == u64::MAX { 0 } else { whole_low.saturating_sub(others_high) };
        let high = if whole_high == u64::MAX { u64::MAX } else { whole_high.saturating_sub(others_low) };
        Some((low, high))
    } else {
        None
    }
}

/// The cells whose bounds leave a single count from 1 to k-1: counts a reader knows for certain.
pub fn pinned(bounds: &[Bounds], k: u64) -> Vec<usize> {
    bounds
        .iter()
        .enumerate()
        .filter(|(_, (low, high))| low == high && below_threshold(*low, k))
        .map(|(i, _)| i)
        .collect()
}

//! Small-cell rules on perturbed counts over generated tables: no published cell between 1 and k-1, no
//! zero hidden but by the audit, and no cell a reader who knows the p-table can pin to a count from 1 to k-1 by
//! propagating bounds through the rows, the columns and the total. The bounds are worked out here a
//! second time, independently of the module, and checked to hold the true counts.

use psm_api::service::perturbation::{PTable, cell_key};
use psm_api::service::suppression::{Equation, Hidden, suppress};

use crate::reader;

/// A `rows` x `columns` table of true counts with row sums, column sums and the grand total as extra
/// cells, random record-key sums for each, and the equations binding them.
fn table(rng: &mut fastrand::Rng, rows: usize, columns: usize) -> (Vec<u64>, Vec<i64>, Vec<Equation>) {
    let mut counts: Vec<u64> = (0..rows * columns)
        .map(|_| match rng.u8(0..10) {
            0..=2 => 0,
            3..=5 => rng.u64(1..5),
            _ => rng.u64(5..60),
        })
        .collect();
    let mut keys: Vec<i64> = counts.iter().map(|&count| (0..count).map(|_| rng.i64(0..1 << 31)).sum()).collect();
    let cell = |r: usize, c: usize| r * columns + c;
    let mut equations = Vec::new();
    let mut row_wholes = Vec::new();
    let mut whole = |counts: &mut Vec<u64>, keys: &mut Vec<i64>, parts: Vec<usize>| {
        counts.push(parts.iter().map(|&i| counts[i]).sum());
        keys.push(parts.iter().map(|&i| keys[i]).sum());
        equations.push(Equation { whole: counts.len() - 1, parts });
        counts.len() - 1
    };
    for r in 0..rows {
        row_wholes.push(whole(&mut counts, &mut keys, (0..columns).map(|c| cell(r, c)).collect()));
    }
    for c in 0..columns {
        whole(&mut counts, &mut keys, (0..rows).map(|r| cell(r, c)).collect());
    }
    whole(&mut counts, &mut keys, row_wholes);
    (counts, keys, equations)
}

/// What a reader can derive (see `reader`).
fn reader_bounds(
    published: &[u64],
    hidden: &[Hidden],
    equations: &[Equation],
    k: u64,
    ptable: &PTable,
) -> Vec<(i64, i64)> {
    let start = published
        .iter()
        .zip(hidden)
        .map(|(&value, hidden)| match hidden {
            Hidden::No => reader::shown(ptable, value),
            Hidden::Primary => reader::hidden(ptable, k, true),
            Hidden::Audit => reader::hidden(ptable, k, false),
        })
        .collect();
    let equations: Vec<(usize, Vec<usize>)> = equations.iter().map(|e| (e.whole, e.parts.clone())).collect();
    reader::propagate(start, &equations)
}

#[test]
fn perturbed_tables_hide_small_cells_and_pin_nothing() {
    let ptable = PTable::built_in();
    let mut rng = fastrand::Rng::with_seed(6371);
    let k = 5;
    let (mut hidden_somewhere, mut audited, mut small_true) = (0, 0, 0);
    for round in 0..2_000 {
        let rows = rng.usize(1..6);
        let columns = rng.usize(1..8);
        let (counts, keys, equations) = table(&mut rng, rows, columns);
        // Every other table as the p-table publishes it; the others as badly as it can: each count at one
        // end of what the p-table may make of it, where lines pin small counts if nothing stops them. The
        // end still depends on the records only (the same records, as a one-row table's total and its
        // column, are published alike).
        let extreme = round % 2 == 1;
        let published: Vec<u64> = counts
            .iter()
            .zip(&keys)
            .map(|(&count, &sum)| {
                let outcomes = ptable.outcomes(count);
                match (extreme, sum % 2 == 0) {
                    (false, _) => ptable.perturb(count, cell_key(sum)),
                    (true, true) => outcomes.first().map_or(count, |o| o.0),
                    (true, false) => outcomes.last().map_or(count, |o| o.0),
                }
            })
            .collect();
        let hidden = suppress(&published, &equations, k, ptable);
        for (i, (&value, hide)) in published.iter().zip(&hidden).enumerate() {
            let shown = *hide == Hidden::No;
            assert!(!shown || value == 0 || value >= k, "round {round}: cell {i} published {value}, below k");
            assert!(shown || value > 0 || *hide == Hidden::Audit, "round {round}: cell {i}, published 0, hidden");
            assert!(counts[i] > 0 || value == 0, "round {round}: a true zero was perturbed");
        }
        let bounds = reader_bounds(&published, &hidden, &equations, k, ptable);
        for (i, (&(low, high), &count)) in bounds.iter().zip(&counts).enumerate() {
            assert!(
                low <= count as i64 && count as i64 <= high,
                "round {round}: cell {i} = {count} outside {low}..{high}"
            );
        }
        assert!(reader::pinned(&bounds, k).is_empty(), "round {round}: pinned: {counts:?} {published:?} {hidden:?}");
        hidden_somewhere += hidden.iter().filter(|h| **h != Hidden::No).count();
        if extreme {
            audited += hidden.iter().filter(|h| **h == Hidden::Audit).count();
        }
        small_true += counts.iter().filter(|&&c| (1..k).contains(&c)).count();
    }
    eprintln!("AUDIT {audited} of {hidden_somewhere}");
    assert!(hidden_somewhere > 1_000, "the generated tables should exercise suppression");
    assert!(small_true > 5_000, "the generated tables should hold many small counts");
    // Extra suppression is needed only where adjustments line up at their bounds: the extreme tables.
    assert!(audited > 20, "the audit should have had work in the extreme tables ({audited})");
    assert!(audited < hidden_somewhere / 5, "the audit hid {audited} of {hidden_somewhere}");
}

#[test]
fn the_audit_hides_one_more_cell_where_adjustments_at_their_bounds_would_pin_a_small_count() {
    let ptable = PTable::built_in();
    // True row: 1, 50, 60 with total 111. Published: the 1 as 3 (hidden), 50 as 52, 60 as 62 and the total
    // as 109: every adjustment at its bound. A reader gets 111 >= total, 50 <= part, 60 <= part, so the
    // hidden cell is at most 111 - 50 - 60 = 1: pinned, unless one more cell goes.
    let published = vec![3, 52, 62, 109];
    let equations = vec![Equation { whole: 3, parts: vec![0, 1, 2] }];
    let hidden = suppress(&published, &equations, 5, ptable);
    assert_eq!(hidden, vec![Hidden::Primary, Hidden::Audit, Hidden::No, Hidden::No], "the smaller part goes");
    let bounds = reader_bounds(&published, &hidden, &equations, 5, ptable);
    assert!(bounds[0].1 > bounds[0].0, "{bounds:?}");
    // The same row with ordinary adjustments pins nothing and hides nothing more.
    let published = vec![3, 50, 61, 111];
    assert_eq!(suppress(&published, &equations, 5, ptable), vec![Hidden::Primary, Hidden::No, Hidden::No, Hidden::No]);
}

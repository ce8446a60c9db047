//! Small-cell suppression over generated tables: no published cell between 1 and k-1, no hidden cell
//! recoverable from its row, its column or the total, and true zeros always shown.

use psm_api::service::suppression::{Equation, recoverable, suppress};

/// A `rows` x `columns` table of counts with row sums, column sums and the grand total as extra cells,
/// and the equations binding them.
fn table(rng: &mut fastrand::Rng, rows: usize, columns: usize) -> (Vec<u64>, Vec<Equation>) {
    let mut counts: Vec<u64> = (0..rows * columns)
        .map(|_| match rng.u8(0..10) {
            0..=2 => 0,
            3..=5 => rng.u64(1..5),
            _ => rng.u64(5..60),
        })
        .collect();
    let cell = |r: usize, c: usize| r * columns + c;
    let mut equations = Vec::new();
    let mut row_wholes = Vec::new();
    for r in 0..rows {
        let parts: Vec<usize> = (0..columns).map(|c| cell(r, c)).collect();
        counts.push(parts.iter().map(|&i| counts[i]).sum());
        row_wholes.push(counts.len() - 1);
        equations.push(Equation { whole: counts.len() - 1, parts });
    }
    for c in 0..columns {
        let parts: Vec<usize> = (0..rows).map(|r| cell(r, c)).collect();
        counts.push(parts.iter().map(|&i| counts[i]).sum());
        equations.push(Equation { whole: counts.len() - 1, parts });
    }
    counts.push(row_wholes.iter().map(|&i| counts[i]).sum());
    equations.push(Equation { whole: counts.len() - 1, parts: row_wholes });
    (counts, equations)
}

#[test]
fn suppressed_tables_hide_small_cells_and_leak_nothing() {
    let mut rng = fastrand::Rng::with_seed(6371);
    let mut hidden_somewhere = 0;
    for round in 0..2_000 {
        let rows = rng.usize(1..6);
        let columns = rng.usize(1..8);
        let (counts, equations) = table(&mut rng, rows, columns);
        let k = 5;
        let hidden = suppress(&counts, &equations, k);
        for (i, (&count, &hide)) in counts.iter().zip(&hidden).enumerate() {
            assert!(hide || count == 0 || count >= k, "round {round}: cell {i} = {count} published below k");
            assert!(!(hide && count == 0), "round {round}: a true zero was hidden");
        }
        assert!(
            !recoverable(&hidden, &equations),
            "round {round}: a hidden cell is recoverable: {counts:?} {hidden:?}"
        );
        hidden_somewhere += hidden.iter().filter(|&&h| h).count();
    }
    assert!(hidden_somewhere > 1_000, "the generated tables should exercise suppression");
}

#[test]
fn one_small_cell_takes_the_next_smallest_with_it() {
    // Row: 3, 10, 7, 0 with total 20: 3 is hidden, and 7 (the next smallest positive) with it.
    let counts = vec![3, 10, 7, 0, 20];
    let equations = vec![Equation { whole: 4, parts: vec![0, 1, 2, 3] }];
    assert_eq!(suppress(&counts, &equations, 5), vec![true, false, true, false, false]);
    // Nothing small: nothing hidden.
    let counts = vec![5, 10, 0, 15];
    assert_eq!(suppress(&counts, &[Equation { whole: 3, parts: vec![0, 1, 2] }], 5), vec![false; 4]);
}

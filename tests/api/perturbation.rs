//! The p-table and cell keys: adjustments bounded and unbiased, zeros kept, the same records always
//! getting the same published value, and bad p-table files refused with the reason.

use psm_api::service::perturbation::{BUILT_IN, PTable, RECORD_KEY_RANGE, cell_key, record_key};

#[test]
fn the_built_in_ptable_passes_the_checks_a_file_must_pass() {
    let built_in = PTable::built_in();
    let csv = built_in.to_csv();
    let parsed = PTable::parse(&csv, "built-in").expect("the built-in table is a valid file");
    assert_eq!(&parsed, built_in);
    assert_eq!(built_in.max_adjustment(), 2);
    // The table in the documentation is the table in the code.
    assert_eq!(csv.lines().count(), BUILT_IN.len() + 1);
    for count in 0..200 {
        let (mean, variance) = built_in.moments(count);
        assert!(mean.abs() < 1e-12, "{count}: mean {mean}");
        let expected = match count {
            0 => 0.0,
            1 => 0.9,
            _ => 1.0,
        };
        assert!((variance - expected).abs() < 1e-12, "{count}: variance {variance}");
        for (published, p) in built_in.outcomes(count) {
            assert!(published.abs_diff(count) <= 2 && p > 0.0, "{count} -> {published}");
        }
    }
    assert_eq!(built_in.outcomes(0), vec![(0, 1.0)], "a true zero stays zero");
    assert!(built_in.outcomes(1).contains(&(0, 0.4)), "a true 1 can be published as 0");
    assert!(built_in.outcomes(2).iter().any(|&(j, _)| j == 0), "a true 2 can be published as 0");
}

#[test]
fn perturbation_is_bounded_and_unbiased_over_many_cells() {
    let table = PTable::built_in();
    let mut rng = fastrand::Rng::with_seed(6371);
    let (mut sum, mut squares, mut cells, mut widest, mut changed) = (0i64, 0i64, 0i64, 0u64, 0);
    let mut ones_to_zero = 0;
    for _ in 0..200_000 {
        let count = match rng.u8(0..4) {
            0 => rng.u64(0..5),
            1 => rng.u64(5..50),
            _ => rng.u64(50..5_000),
        };
        // The key of a cell of `count` random records.
        let keys: i64 = (0..count.min(50)).map(|_| rng.i64(0..RECORD_KEY_RANGE)).sum();
        let published = table.perturb(count, cell_key(keys));
        if count == 0 {
            assert_eq!(published, 0, "a true zero was perturbed");
            continue;
        }
        let adjustment = published as i64 - count as i64;
        sum += adjustment;
        squares += adjustment * adjustment;
        cells += 1;
        widest = widest.max(adjustment.unsigned_abs());
        changed += usize::from(adjustment != 0);
        ones_to_zero += usize::from(count == 1 && published == 0);
    }
    let mean = sum as f64 / cells as f64;
    let variance = squares as f64 / cells as f64 - mean * mean;
    // The mean of ~150,000 adjustments of variance ~1 has a standard error of ~0.0026.
    assert!(mean.abs() < 0.015, "mean adjustment {mean}");
    assert!((variance - 1.0).abs() < 0.05, "variance {variance}");
    assert_eq!(widest, 2, "adjustments stay within D = 2, and reach it");
    assert!(changed as f64 > 0.5 * cells as f64, "most counts move: {changed} of {cells}");
    assert!(ones_to_zero > 1_000, "small counts can become 0");
}

#[test]
fn a_cells_key_depends_only_on_its_records() {
    let mut rng = fastrand::Rng::with_seed(42);
    let records: Vec<i64> = (0..500).map(|_| i64::from(record_key().expect("randomness"))).collect();
    assert!(records.iter().all(|&key| (0..RECORD_KEY_RANGE).contains(&key)));
    let forwards: i64 = records.iter().sum();
    let mut shuffled = records.clone();
    rng.shuffle(&mut shuffled);
    // Summed in another order, or as the sum of two groups' sums (a pre-aggregated table): the same key.
    let (left, right) = shuffled.split_at(123);
    let in_parts = left.iter().sum::<i64>() + right.iter().sum::<i64>();
    assert_eq!(cell_key(forwards), cell_key(in_parts));
    let table = PTable::built_in();
    assert_eq!(table.perturb(500, cell_key(forwards)), table.perturb(500, cell_key(in_parts)));
    // One record more is another cell: its key moves by that record's key.
    let more = forwards + records[0];
    assert_ne!(cell_key(forwards), cell_key(more));
    assert!((0.0..1.0).contains(&cell_key(i64::MAX / 2)));
}

#[test]
fn bad_ptable_files_are_refused_with_the_reason() {
    for (csv, reason) in [
        ("", "empty"),
        ("i,j\n0,0\n", "no `p` column"),
        ("i,j,p\n0,0,1\n1,0,0.5\n1,1,0.4\n", "add up to"),
        ("i,j,p\n0,0,1\n1,0,0.5\n1,1,0.5\n", "mean"),
        ("i,j,p\n0,0,0.5\n0,1,0.5\n1,1,1\n", "mean"),
        ("i,j,p\n0,0,1\n2,2,1\n", "no row for the true count 1"),
        ("i,j,p\n0,0,1\n1,1,x\n", "line 3"),
        ("i,j,p\n0,0,1\n1,1,1.5\n", "between 0 and 1"),
        ("i,j,p\n0,0,1\n30,0,0.5\n30,60,0.5\n", "adjusts by more than"),
    ] {
        let error = PTable::parse(csv, "test.csv").expect_err(csv);
        assert!(error.contains(reason), "{csv:?}: {error}");
    }
    // Quoted headers, extra columns and comments, as exported tables have them, are fine.
    let table =
        PTable::parse("# D = 1\n\"i\",\"j\",\"p\",\"v\"\n0,0,1,0\n1,0,0.5,-1\n1,2,0.5,1\n", "x.csv").expect("valid");
    assert_eq!(table.outcomes(7), vec![(6, 0.5), (8, 0.5)], "larger counts use the last row");
    assert!(PTable::load("/nonexistent/ptable.csv").expect_err("missing").contains("cannot read"));
}

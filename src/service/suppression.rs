//! Small-cell suppression: published counts must never point at a person.
//!
//! A count from 1 to k-1 (k = the minimum cell size, 5 by default) is hidden: primary suppression. A
//! hidden count must also not be recoverable by arithmetic from the published ones. Published figures
//! are bound by additive equations (a total is the sum of its breakdown; open plus closed cases make all
//! cases), and an equation with exactly one hidden member gives that member away. So while some
//! equation has exactly one hidden member, the smallest other positive member of that equation is
//! hidden too: complementary suppression, repeated until no equation has exactly one hidden member. A
//! true zero is never hidden and never chosen as the complement: hiding a known zero protects nothing.
//!
//! Callers describe their figures as a list of counts and a list of equations over them, by index.

/// An additive equation between published counts: `whole` equals the sum of `parts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equation {
    pub whole: usize,
    pub parts: Vec<usize>,
}

/// Whether a single count must be hidden on its own (primary suppression).
pub fn below_threshold(count: u64, k: u64) -> bool {
    count > 0 && count < k
}

/// Decides which of `counts` to hide, given the equations that bind them. Returns one flag per count.
pub fn suppress(counts: &[u64], equations: &[Equation], k: u64) -> Vec<bool> {
    let mut hidden: Vec<bool> = counts.iter().map(|&count| below_threshold(count, k)).collect();
    loop {
        let mut changed = false;
        for equation in equations {
            let members = || std::iter::once(equation.whole).chain(equation.parts.iter().copied());
            if members().filter(|&i| hidden[i]).count() != 1 {
                continue;
            }
            // Prefer hiding a part to hiding the whole: totals are what dashboards show first.
            let complement = equation
                .parts
                .iter()
                .copied()
                .filter(|&i| !hidden[i] && counts[i] > 0)
                .min_by_key(|&i| (counts[i], i))
                .or_else(|| (!hidden[equation.whole] && counts[equation.whole] > 0).then_some(equation.whole));
            if let Some(i) = complement {
                hidden[i] = true;
                changed = true;
            }
        }
        if !changed {
            return hidden;
        }
    }
}

/// Whether some hidden count can be computed from the published ones through one equation: the check
/// the tests run over generated tables.
pub fn recoverable(hidden: &[bool], equations: &[Equation]) -> bool {
    equations.iter().any(|equation| {
        std::iter::once(equation.whole).chain(equation.parts.iter().copied()).filter(|&i| hidden[i]).count() == 1
    })
}

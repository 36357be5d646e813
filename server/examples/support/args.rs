//! The benchmarks' command line: a few numbers, each with a default.

/// The numbers given on the command line, in order; `defaults` for those not given.
pub fn numbers<const N: usize>(defaults: [usize; N]) -> [usize; N] {
    let given: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let mut out = defaults;
    for (slot, value) in out.iter_mut().zip(given) {
        *slot = value;
    }
    out
}

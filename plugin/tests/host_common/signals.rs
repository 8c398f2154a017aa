//! Test signals and the checks on them, shared by the engine's unit tests and the host tests.
//! Every check fails on a length mismatch and when it would compare nothing.

/// Deterministic white noise in [-0.5, 0.5).
pub fn noise(len: usize, seed: u32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(747_796_405).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32) - 0.5
        })
        .collect()
}

/// Index of the largest magnitude in `x[from..to]`, as an index into `x`.
pub fn peak_in(x: &[f32], from: usize, to: usize) -> usize {
    assert!(
        from < to && to <= x.len(),
        "peak in {from}..{to} of {}",
        x.len()
    );
    from + (0..to - from)
        .max_by(|&a, &b| x[from + a].abs().total_cmp(&x[from + b].abs()))
        .unwrap()
}

/// Index of the largest magnitude in `x`.
pub fn peak(x: &[f32]) -> usize {
    peak_in(x, 0, x.len())
}

/// `output` is `input * gain` delayed by exactly `delay` samples, with silence before: every
/// sample within `tolerance` relative to the expected one (at least 1), `0.0` for exact. At
/// least one delayed sample must be compared.
pub fn assert_delayed(
    output: &[f32],
    input: &[f32],
    delay: usize,
    gain: f32,
    tolerance: f32,
    what: &str,
) {
    assert_eq!(output.len(), input.len(), "{what}: length");
    assert!(
        delay < output.len(),
        "{what}: a delay of {delay} leaves nothing of {} samples to compare",
        output.len()
    );
    if let Some(n) = output[..delay].iter().position(|&s| s != 0.0) {
        panic!(
            "{what}: sample {n} is {} before the latency {delay}",
            output[n]
        );
    }
    for n in delay..output.len() {
        let expected = input[n - delay] * gain;
        assert!(
            (output[n] - expected).abs() <= tolerance * expected.abs().max(1.0),
            "{what}: sample {n} is {}, expected {expected} (input delayed by {delay})",
            output[n]
        );
    }
}

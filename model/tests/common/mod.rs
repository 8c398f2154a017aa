//! Shared helpers of the parity tests: fixture paths, goldens, and the tolerance of the
//! standards (every float stage within 1e-4 of the reference's peak absolute value).
#![allow(dead_code)] // each test binary uses its own subset

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{Device, Tensor};

pub fn tiny(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tiny")
        .join(path)
}

pub fn goldens(path: PathBuf) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(&path, &Device::Cpu)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn floats(goldens: &HashMap<String, Tensor>, name: &str) -> Vec<f32> {
    goldens[name]
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

pub fn ints(goldens: &HashMap<String, Tensor>, name: &str) -> Vec<Vec<i64>> {
    goldens[name].to_vec2::<i64>().unwrap()
}

/// Largest absolute difference relative to the reference's peak absolute value.
pub fn relative_error(actual: &[f32], expected: &[f32]) -> f32 {
    assert_eq!(actual.len(), expected.len(), "length differs");
    let peak = expected.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = actual
        .iter()
        .zip(expected)
        .fold(0f32, |m, (a, e)| m.max((a - e).abs()));
    diff / peak
}

/// Asserts the 1e-4 standard and prints the figure for the closing note.
pub fn assert_close(stage: &str, actual: &[f32], expected: &[f32]) {
    let err = relative_error(actual, expected);
    println!("{stage}: max |error| / peak = {err:.3e}");
    assert!(
        err <= 1e-4,
        "{stage}: error {err:.3e} exceeds 1e-4 of the reference peak"
    );
}

/// A scratch directory under the target dir, emptied for each use.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// [`assert_close`] on the samples `keep` selects (e.g. away from a near-tie code flip's
/// reach). Fails on different lengths, and when it selects nothing: a comparison of nothing
/// proves nothing.
pub fn assert_close_where(
    stage: &str,
    actual: &[f32],
    expected: &[f32],
    keep: impl Fn(usize) -> bool,
) {
    assert_eq!(actual.len(), expected.len(), "{stage}: length");
    let kept: Vec<usize> = (0..expected.len()).filter(|&n| keep(n)).collect();
    assert!(!kept.is_empty(), "{stage}: no sample left to compare");
    let a: Vec<f32> = kept.iter().map(|&n| actual[n]).collect();
    let e: Vec<f32> = kept.iter().map(|&n| expected[n]).collect();
    assert_close(
        &format!("{stage} ({} of {} samples)", kept.len(), expected.len()),
        &a,
        &e,
    );
}

/// Asserts that `out` is `latency` silent samples, then `reference` from its start, as far as
/// `out` reaches. Fails when `out` does not reach past the latency.
pub fn assert_delayed(stage: &str, out: &[f32], latency: usize, reference: &[f32]) {
    assert!(
        out.len() > latency,
        "{stage}: {} samples do not reach past the latency {latency}",
        out.len()
    );
    assert!(
        out[..latency].iter().all(|&s| s == 0.0),
        "{stage}: sound before the latency"
    );
    let n = out.len() - latency;
    assert!(reference.len() >= n, "{stage}: longer than the reference");
    assert_close(stage, &out[latency..], &reference[..n]);
}

/// Pushes each channel of `audio` (equal lengths) in pieces of `chunk` samples through `push`
/// (a stream's `push`); returns each channel's output.
pub fn stream_channels(
    audio: &[&[f32]],
    chunk: usize,
    mut push: impl FnMut(&[&[f32]], &mut [Vec<f32>]),
) -> Vec<Vec<f32>> {
    let mut out = vec![Vec::new(); audio.len()];
    for start in (0..audio[0].len()).step_by(chunk) {
        let end = (start + chunk).min(audio[0].len());
        let pieces: Vec<&[f32]> = audio.iter().map(|a| &a[start..end]).collect();
        push(&pieces, &mut out);
    }
    out
}

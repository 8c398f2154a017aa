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

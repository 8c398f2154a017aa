//! What the plugin's benchmarks share: process CPU time and memory from /proc (Linux), and the
//! models they run.

#![allow(dead_code)] // each benchmark uses its own subset

use std::path::{Path, PathBuf};

use vocos_model::encodec::Encodec;
use vocos_model::vocos::Vocos;
use vocos_plugin::models::LoadedModel;

/// Process CPU time (user + system, all threads) in seconds, from /proc/self/stat.
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the command name: state is field 0, utime field 11, stime field 12; 100 ticks/s.
    (ticks(11) + ticks(12)) / 100.0
}

/// A `/proc/self/status` memory figure (`VmRSS`, `VmHWM`: peak RSS) in MB.
pub fn memory_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

pub fn rss_mb() -> f64 {
    memory_mb("VmRSS:")
}

/// The full-size models to bench (see `vocos_model::random_weights::benchmark_models`), and
/// what they are.
pub fn full_size_dir() -> (PathBuf, String) {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR"));
    vocos_model::random_weights::benchmark_models(cache).expect("full-size models")
}

/// The codec from a fixtures-style folder (`encodec_th/`, `vocos_encodec/`).
pub fn codec(dir: &Path) -> LoadedModel {
    LoadedModel::Codec {
        encodec: Encodec::load(&dir.join("encodec_th")).expect("EnCodec weights"),
        vocos: Vocos::load(&dir.join("vocos_encodec")).expect("Vocos weights"),
    }
}

/// The committed tiny random-weight fixtures.
pub fn tiny_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/fixtures/tiny")
}

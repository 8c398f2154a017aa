//! Full-size models with seeded random weights, named and shaped as the official checkpoints
//! (facebook/encodec_24khz's original `.th`, charactr/vocos-encodec-24khz and
//! charactr/vocos-mel-24khz `pytorch_model.bin`), for benchmarks on machines without the real
//! files: compute cost does not depend on the weight values.
//!
//! The names and shapes are the lists beside this file (`random_weights/*.txt`: one tensor per
//! line, `name<TAB>[dims]<TAB>dtype`, as the reference packages' state dicts list them). Values
//! are those of a fresh initialisation, so activations stay in range: weights and codebooks
//! uniform with variance `1 / fan_in`, weight-norm gains, norm scales and codebook counters 1,
//! biases and norm shifts 0, layer-scale gammas 1/8 (Vocos' `1 / num_layers`), windows Hann.
//! Mel filterbanks are left out (the loader builds the reference filterbank then).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use crate::error::{ModelError, Result};
use crate::vocos::config::{RELEASED_ENCODEC_YAML, RELEASED_MEL_YAML};

const ENCODEC_KEYS: &str = include_str!("random_weights/encodec_24khz_th.txt");
const VOCOS_ENCODEC_KEYS: &str =
    include_str!("random_weights/vocos_encodec_24khz_pytorch_model_bin.txt");
const VOCOS_MEL_KEYS: &str = include_str!("random_weights/vocos_mel_24khz_pytorch_model_bin.txt");

/// Written last into a complete folder; its content is the seed.
const DONE: &str = "random-weights-seed";
/// The seed of the benchmarks' models.
const BENCH_SEED: u64 = 2023;

/// The full-size models the benchmarks run, in the fixtures' layout: the folder
/// `VOCOS_FULLSIZE_DIR` names (real weights, or the reference generator's random ones), else
/// seeded random ones written once under `cache`. Returns the folder and what it holds.
pub fn benchmark_models(cache: &Path) -> Result<(PathBuf, String)> {
    match std::env::var_os("VOCOS_FULLSIZE_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            let what = format!("weights of VOCOS_FULLSIZE_DIR={}", dir.display());
            Ok((dir, what))
        }
        None => Ok((
            full_size_models(&cache.join("fullsize-random"), BENCH_SEED)?,
            format!("seeded random full-size weights (seed {BENCH_SEED})"),
        )),
    }
}

/// The folder `dir` holding full-size random models in the fixtures' layout (`encodec_th/`,
/// `vocos_encodec/`, `vocos_mel/`), written with `seed` unless it already holds them.
pub fn full_size_models(dir: &Path, seed: u64) -> Result<PathBuf> {
    let done = dir.join(DONE);
    if std::fs::read_to_string(&done).is_ok_and(|s| s == seed.to_string()) {
        return Ok(dir.to_owned());
    }
    let mut rng = XorShift(seed.max(1));
    let folders = [
        ("encodec_th", "encodec_24khz.th", ENCODEC_KEYS, None),
        (
            "vocos_encodec",
            "pytorch_model.bin",
            VOCOS_ENCODEC_KEYS,
            Some(RELEASED_ENCODEC_YAML),
        ),
        (
            "vocos_mel",
            "pytorch_model.bin",
            VOCOS_MEL_KEYS,
            Some(RELEASED_MEL_YAML),
        ),
    ];
    for (folder, weights, keys, config) in folders {
        let folder = dir.join(folder);
        let io = |source| ModelError::Io {
            path: folder.clone(),
            source,
        };
        std::fs::create_dir_all(&folder).map_err(io)?;
        if let Some(config) = config {
            std::fs::write(folder.join("config.yaml"), config).map_err(io)?;
        }
        let tensors = random_tensors(keys, &mut rng)?;
        candle_core::safetensors::save(&tensors, folder.join(weights))?;
    }
    std::fs::write(&done, seed.to_string())
        .map_err(|source| ModelError::Io { path: done, source })?;
    Ok(dir.to_owned())
}

/// One random tensor per line of a key list.
fn random_tensors(keys: &str, rng: &mut XorShift) -> Result<HashMap<String, Tensor>> {
    let mut tensors = HashMap::new();
    for line in keys
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let mut fields = line.split('\t');
        let (Some(name), Some(dims)) = (fields.next(), fields.next()) else {
            continue;
        };
        let dims: Vec<usize> = dims
            .trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .filter_map(|d| d.trim().parse().ok())
            .collect();
        if name.ends_with(".fb") {
            continue;
        }
        let len: usize = dims.iter().product();
        let values = initial_values(name, &dims, len, rng);
        tensors.insert(
            name.to_owned(),
            Tensor::from_vec(values, dims, &Device::Cpu)?,
        );
    }
    Ok(tensors)
}

/// A fresh initialisation's values for tensor `name` (see the module documentation).
fn initial_values(name: &str, dims: &[usize], len: usize, rng: &mut XorShift) -> Vec<f32> {
    let constant = |value: f32| vec![value; len];
    if name.ends_with("window") {
        return vocos_dsp::window::hann_periodic(len);
    }
    if name.ends_with("gamma") {
        return constant(0.125);
    }
    if name.contains("shift") || name.contains("bias") {
        return constant(0.0);
    }
    let is_norm_scale = name.contains("norm.");
    if name.ends_with("weight_g")
        || name.ends_with("inited")
        || name.ends_with("cluster_size")
        || is_norm_scale
    {
        return constant(1.0);
    }
    let fan_in: usize = dims.iter().skip(1).product::<usize>().max(1);
    let bound = (3.0 / fan_in as f32).sqrt();
    (0..len).map(|_| bound * (2.0 * rng.unit() - 1.0)).collect()
}

/// xorshift64: fast, seeded, good enough for weights.
struct XorShift(u64);

impl XorShift {
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encodec::Encodec;
    use crate::vocos::Vocos;

    /// The random folders load through the normal loaders (every tensor present, shapes as the
    /// official configs expect) and the codec runs to finite audio.
    #[test]
    fn full_size_random_models_load_and_run() {
        let dir = std::env::temp_dir().join(format!("vocos-random-weights-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        full_size_models(&dir, 7).unwrap();
        let encodec = Encodec::load(&dir.join("encodec_th")).unwrap();
        let vocos = Vocos::load(&dir.join("vocos_encodec")).unwrap();
        let mel = Vocos::load(&dir.join("vocos_mel")).unwrap();
        assert!(!vocos.is_mel() && mel.is_mel());
        let audio: Vec<f32> = (0..4800).map(|n| (n as f32 * 0.05).sin() * 0.3).collect();
        let out = crate::codec_stream::offline_with_frame_ids(&encodec, &vocos, &audio, &[3; 15])
            .unwrap();
        assert!(out.iter().all(|s| s.is_finite()) && out.iter().any(|s| s.abs() > 1e-4));
        // A second call finds the folder complete and leaves it as it is.
        let stamp = std::fs::metadata(dir.join("vocos_mel/pytorch_model.bin"))
            .unwrap()
            .modified()
            .unwrap();
        full_size_models(&dir, 7).unwrap();
        let again = std::fs::metadata(dir.join("vocos_mel/pytorch_model.bin"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(stamp, again);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

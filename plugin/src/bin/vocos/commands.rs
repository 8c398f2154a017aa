//! The four commands. Each loads its models once, runs the offline pipeline on the whole clip
//! and writes the result; see `main.rs` for their arguments.

use std::path::Path;

use vocos_model::encodec::{Bandwidth, Encodec};
use vocos_model::vocos::Vocos;

use crate::audio_file::{MODEL_RATE, read_mono_24k, write_mono_24k};
use crate::codes_file::{CodesArray, read_codes, write_codes};
use crate::error::{CliError, Result};
use crate::progress::{Progress, cost};

fn seconds(samples: usize) -> f64 {
    samples as f64 / f64::from(MODEL_RATE)
}

pub fn encode(encodec_path: &Path, kbps: f32, input: &Path, output: &Path) -> Result<()> {
    let bandwidth = Bandwidth::from_kbps(kbps).map_err(|e| CliError::Usage(e.to_string()))?;
    let encodec = Encodec::load(encodec_path)?;
    let audio = read_mono_24k(input)?;
    let n_q = bandwidth.n_codebooks() as u64;
    let progress = Progress::new(seconds(audio.len()), cost::ENCODER + n_q * cost::QUANTIZER_PER_CODEBOOK);
    let codes = progress.stage("encoding", cost::ENCODER + n_q * cost::QUANTIZER_PER_CODEBOOK, || {
        encodec.encode(&audio, bandwidth)
    })?;
    progress.finish();
    write_codes(output, &CodesArray { rows: codes.rows() })
}

pub fn decode(vocos_path: &Path, kbps: f32, input: &Path, output: &Path) -> Result<()> {
    todo!()
}

pub fn resynth(encodec_path: &Path, vocos_path: &Path, kbps: f32, input: &Path, output: &Path) -> Result<()> {
    todo!()
}

pub fn mel(vocos_path: &Path, input: &Path, output: &Path) -> Result<()> {
    todo!()
}

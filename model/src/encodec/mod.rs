//! EnCodec 24 kHz: SEANet encoder and residual vector quantizer (the decoder is not needed:
//! Vocos decodes). Loads the official checkpoints in their original and transformers layouts.
//! The encoder runs as a stream ([`EncoderStream`]); its offline form is the stream given the
//! whole clip and flushed.

pub mod activation;
pub mod config;
pub mod conv;
pub mod lstm;
pub mod names;
pub mod rvq;
pub mod seanet;
pub mod stream;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{Device, Tensor};

pub use config::EncodecConfig;
pub use names::Layout;
pub use rvq::{Codes, ResidualVectorQuantizer};
pub use seanet::SeanetEncoder;
pub use stream::EncoderStream;

use crate::checkpoint::Checkpoint;
use crate::error::{ModelError, Result};
use crate::streaming::{OFFLINE_CHUNK_FRAMES, Rows, offline};
use names::EncodecWeights;

/// Name prefix of EnCodec inside a full Vocos state dict.
const VOCOS_PREFIX: &str = "feature_extractor.encodec.";

/// An immutable EnCodec encoder + quantizer; share it between instances with `Arc`.
pub struct Encodec {
    config: EncodecConfig,
    encoder: SeanetEncoder,
    quantizer: ResidualVectorQuantizer,
}

impl Encodec {
    /// Loads from a checkpoint file (`.th`, `.bin`, `.safetensors`, in the original or the
    /// transformers naming; hyper-parameters from a `config.json` beside it, else the 24 kHz
    /// model's) or from a directory holding one (`model.safetensors`, `pytorch_model.bin` or a
    /// `*.th`, in that preference) and optionally `config.json`. Load once and share the `Arc`.
    pub fn load(path: &Path) -> Result<Arc<Self>> {
        let weights = find_weights(path)?;
        let config_path = weights.with_file_name("config.json");
        // Present but unreadable (a directory, no permission) is an error, not the defaults.
        let read_config = config_path.exists();
        let config = if read_config {
            EncodecConfig::from_json_file(&config_path)?
        } else {
            EncodecConfig::default()
        };
        let checkpoint = Checkpoint::load(&weights)?;
        let model = Self::from_checkpoint(&checkpoint, config).map_err(|e| {
            if read_config {
                e.against_config(&config_path)
            } else {
                e
            }
        })?;
        Ok(Arc::new(model))
    }

    /// Builds the model from tensors in any supported layout, with or without the
    /// `feature_extractor.encodec.` prefix of a full Vocos state dict.
    pub fn from_checkpoint(checkpoint: &Checkpoint, config: EncodecConfig) -> Result<Self> {
        let prefix = if Layout::detect(checkpoint, VOCOS_PREFIX).is_ok() {
            VOCOS_PREFIX
        } else {
            ""
        };
        let weights = EncodecWeights {
            checkpoint,
            layout: Layout::detect(checkpoint, prefix)?,
            prefix: prefix.into(),
        };
        let encoder = SeanetEncoder::load(&weights, &config)?;
        let quantizer = ResidualVectorQuantizer::load(
            &weights,
            config.num_quantizers(),
            config.codebook_size,
            config.hidden_size,
        )?;
        Ok(Self {
            config,
            encoder,
            quantizer,
        })
    }

    pub fn config(&self) -> &EncodecConfig {
        &self.config
    }

    pub fn quantizer(&self) -> &ResidualVectorQuantizer {
        &self.quantizer
    }

    pub fn encoder(&self) -> &SeanetEncoder {
        &self.encoder
    }

    /// Number of codebooks for `kbps`, which must be one of the model's target bandwidths.
    pub fn codebooks_for(&self, kbps: f32) -> Result<usize> {
        if !self.config.target_bandwidths.contains(&kbps) {
            return Err(ModelError::Bandwidth {
                kbps,
                offered: self.config.target_bandwidths.clone(),
            });
        }
        Ok(self.config.codebooks_for_bandwidth(kbps))
    }

    /// The encoder's latent of mono audio at the model's rate: `ceil(N / hop)` frames of `D`
    /// values, frame-major (the offline encoder: a fresh [`EncoderStream`] given the whole clip
    /// and flushed).
    pub fn latent(&self, audio: &[f32]) -> Result<Vec<f32>> {
        check_audio(audio)?;
        let audio = Rows::new(audio.to_vec(), 1, 1, Vec::new());
        let mut stream = EncoderStream::new(&self.encoder, 1);
        let chunk = OFFLINE_CHUNK_FRAMES * self.encoder.hop;
        Ok(offline(&mut stream, &audio, chunk)?.into_data())
    }

    /// [`Self::latent`] in the reference's layout `(1, D, ceil(N / hop))`.
    pub fn encoder_output(&self, audio: &[f32]) -> Result<Tensor> {
        let latent = self.latent(audio)?;
        let frames = latent.len() / self.config.hidden_size;
        Ok(
            Tensor::from_vec(latent, (frames, self.config.hidden_size), &Device::Cpu)?
                .t()?
                .unsqueeze(0)?,
        )
    }

    /// `EncodecModel.encode` at `kbps`: codes `(n_q, ceil(N / hop))`.
    pub fn encode(&self, audio: &[f32], kbps: f32) -> Result<Codes> {
        let n_q = self.codebooks_for(kbps)?;
        self.quantizer.encode(&self.latent(audio)?, n_q)
    }
}

/// Rejects input the reference would turn into garbage (NaN/Inf) or cannot encode (nothing).
pub fn check_audio(audio: &[f32]) -> Result<()> {
    if audio.is_empty() {
        return Err(ModelError::EmptyAudio);
    }
    if let Some(i) = audio.iter().position(|s| !s.is_finite()) {
        return Err(ModelError::NonFiniteAudio { sample: i });
    }
    Ok(())
}

/// The weights file for `path`: the path itself, or the checkpoint inside a directory.
fn find_weights(path: &Path) -> Result<PathBuf> {
    let io = |source| ModelError::Io {
        path: path.to_owned(),
        source,
    };
    if !std::fs::metadata(path).map_err(io)?.is_dir() {
        return Ok(path.to_owned());
    }
    // Preference when several are present: transformers files, then the original `.th`
    // (the first by name).
    let rank = |p: &Path| match p.file_name().and_then(|n| n.to_str()) {
        Some("model.safetensors") => Some(0),
        Some("pytorch_model.bin") => Some(1),
        Some(name) if name.ends_with(".th") => Some(2),
        _ => None,
    };
    let mut candidates: Vec<(usize, PathBuf)> = std::fs::read_dir(path)
        .map_err(io)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter_map(|p| rank(&p).map(|r| (r, p)))
        .collect();
    candidates.sort();
    candidates
        .into_iter()
        .next()
        .map(|(_, p)| p)
        .ok_or_else(|| ModelError::NoWeightsInDir {
            dir: path.to_owned(),
            looked_for: "model.safetensors, pytorch_model.bin or *.th".into(),
        })
}

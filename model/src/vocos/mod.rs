//! Vocos (Siuzdak 2023): backbone + ISTFT head, fed by EnCodec codes (EnCodec variant) or by
//! log-mel features (mel variant). Loads `config.yaml` + `pytorch_model.bin` (or
//! `model.safetensors`) as published on the hub.

pub mod backbone;
pub mod config;
pub mod features;
pub mod head;
pub mod streaming;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{Device, Tensor};

pub use backbone::Backbone;
pub use config::{FeatureConfig, VocosConfig};
pub use features::{CodebookFeatures, MelFeatures, MelFrontStream};
pub use head::IstftHead;
pub use streaming::VocosStream;

use crate::checkpoint::Checkpoint;
use crate::encodec::{EncodecConfig, check_audio};
use crate::error::{ModelError, Result};
use crate::streaming::{OFFLINE_CHUNK_FRAMES, Rows, offline};

/// What turns the input into feature frames. The EnCodec variant's features are the codes of
/// the released EnCodec 24 kHz (`EncodecConfig::default()`, as vocos' `EncodecFeatures` loads
/// it), so its bandwidth -> codebooks rule is EnCodec's.
pub enum Frontend {
    Encodec {
        bandwidths: Vec<f32>,
        codebooks: CodebookFeatures,
    },
    Mel(MelFeatures),
}

/// An immutable Vocos model; share it between instances with `Arc`.
pub struct Vocos {
    pub config: VocosConfig,
    pub frontend: Frontend,
    pub backbone: Arc<Backbone>,
    pub head: Arc<IstftHead>,
}

impl Vocos {
    /// Loads from a directory holding `config.yaml` and `pytorch_model.bin` or
    /// `model.safetensors`, or from a weights file with `config.yaml` beside it.
    pub fn load(path: &Path) -> Result<Arc<Self>> {
        let (config_path, weights) = locate(path)?;
        let config = VocosConfig::from_yaml_file(&config_path)?;
        let checkpoint = Checkpoint::load(&weights)?;
        let model = Self::from_checkpoint(&checkpoint, config)
            .map_err(|e| e.against_config(&config_path))?;
        Ok(Arc::new(model))
    }

    pub fn from_checkpoint(ckpt: &Checkpoint, config: VocosConfig) -> Result<Self> {
        let frontend = match &config.features {
            FeatureConfig::Encodec { bandwidths } => {
                let max_kbps = bandwidths.iter().copied().fold(0.0, f32::max);
                let encodec = EncodecConfig::default();
                let codebooks = CodebookFeatures::load(
                    ckpt,
                    encodec.codebooks_for_bandwidth(max_kbps),
                    encodec.codebook_size,
                )?;
                if codebooks.dim != config.backbone.input_channels {
                    return Err(ModelError::Config {
                        path: ckpt.path().to_owned(),
                        reason: format!(
                            "backbone input_channels {} differs from the codebook dimension {}",
                            config.backbone.input_channels, codebooks.dim
                        ),
                    });
                }
                Frontend::Encodec {
                    bandwidths: bandwidths.clone(),
                    codebooks,
                }
            }
            FeatureConfig::Mel(mel) => Frontend::Mel(MelFeatures::load(ckpt, mel)?),
        };
        Ok(Self {
            backbone: Arc::new(Backbone::load(ckpt, &config.backbone)?),
            head: Arc::new(IstftHead::load(ckpt, &config.head)?),
            frontend,
            config,
        })
    }

    pub fn is_mel(&self) -> bool {
        matches!(self.frontend, Frontend::Mel(_))
    }

    /// The bandwidth id (AdaLayerNorm row) of `kbps` in this model's bandwidth list.
    pub fn bandwidth_id(&self, kbps: f32) -> Result<usize> {
        match &self.frontend {
            Frontend::Encodec { bandwidths, .. } => bandwidths
                .iter()
                .position(|&b| b == kbps)
                .ok_or_else(|| ModelError::Bandwidth {
                    kbps,
                    offered: bandwidths.clone(),
                }),
            Frontend::Mel(_) => Err(ModelError::Variant { needed: "EnCodec" }),
        }
    }

    /// Number of EnCodec codebooks of bandwidth id `id` (2, 4, 8, 16 for ids 0..4).
    pub fn codebooks_for_id(&self, id: usize) -> Result<usize> {
        match &self.frontend {
            Frontend::Encodec { bandwidths, .. } => bandwidths
                .get(id)
                .map(|&kbps| EncodecConfig::default().codebooks_for_bandwidth(kbps))
                .ok_or(ModelError::BandwidthId {
                    id,
                    count: bandwidths.len(),
                }),
            Frontend::Mel(_) => Err(ModelError::Variant { needed: "EnCodec" }),
        }
    }

    /// `codes_to_features`: summed embeddings `(1, D, T)` of codes `(K, T)` (all `K` rows used).
    pub fn codes_to_features(&self, codes: &[Vec<u32>]) -> Result<Tensor> {
        match &self.frontend {
            Frontend::Encodec { codebooks, .. } => codebooks.features(codes),
            Frontend::Mel(_) => Err(ModelError::Variant { needed: "EnCodec" }),
        }
    }

    /// Log-mel features `(1, n_mels, 1 + N / 256)` of 24 kHz audio (mel variant).
    pub fn mel_features(&self, audio: &[f32]) -> Result<Tensor> {
        check_audio(audio)?;
        match &self.frontend {
            Frontend::Mel(mel) => mel.features(audio),
            Frontend::Encodec { .. } => Err(ModelError::Variant { needed: "mel" }),
        }
    }

    /// Features `(1, C, T)` as frame-major rows with the bandwidth id of every frame
    /// (`bandwidth_id` is required by the EnCodec variant and ignored by the mel variant).
    fn feature_rows(&self, features: &Tensor, bandwidth_id: Option<usize>) -> Result<Rows> {
        let frames = features.dim(2)?;
        let ids = match (&self.frontend, bandwidth_id) {
            (Frontend::Encodec { .. }, Some(id)) => {
                self.codebooks_for_id(id)?;
                vec![id; frames]
            }
            (Frontend::Encodec { .. }, None) => return Err(ModelError::MissingBandwidthId),
            (Frontend::Mel(_), _) => Vec::new(),
        };
        let width = features.dim(1)?;
        let data = features.squeeze(0)?.t()?.flatten_all()?.to_vec1::<f32>()?;
        Ok(Rows::new(data, 1, width, ids))
    }

    /// Backbone hidden states `(T, dim)` of features `(1, C, T)`: the backbone stream given
    /// every frame and flushed.
    pub fn backbone(&self, features: &Tensor, bandwidth_id: Option<usize>) -> Result<Tensor> {
        let rows = self.feature_rows(features, bandwidth_id)?;
        let mut stream = backbone::BackboneStream::new(self.backbone.clone());
        let hidden = offline(&mut stream, &rows, OFFLINE_CHUNK_FRAMES)?;
        let shape = (hidden.len(), hidden.width());
        Ok(Tensor::from_slice(hidden.data(), shape, &Device::Cpu)?)
    }

    /// `Vocos.decode`: features `(1, C, T)` -> audio (`T * hop` samples for `same` padding,
    /// `(T - 1) * hop` for `center`): a [`VocosStream`] given every frame and flushed.
    pub fn decode(&self, features: &Tensor, bandwidth_id: Option<usize>) -> Result<Vec<f32>> {
        let rows = self.feature_rows(features, bandwidth_id)?;
        let mut stream = VocosStream::new(self, 1)?;
        Ok(offline(&mut stream, &rows, OFFLINE_CHUNK_FRAMES)?.into_data())
    }

    /// Decodes EnCodec codes `(K, T)` at `bandwidth_id` (`Vocos.decode(codes_to_features(codes))`).
    pub fn decode_codes(&self, codes: &[Vec<u32>], bandwidth_id: usize) -> Result<Vec<f32>> {
        self.decode(&self.codes_to_features(codes)?, Some(bandwidth_id))
    }

    /// Mel-variant analysis-resynthesis: `Vocos.forward(audio)`.
    pub fn resynthesize_mel(&self, audio: &[f32]) -> Result<Vec<f32>> {
        self.decode(&self.mel_features(audio)?, None)
    }
}

/// `(config.yaml, weights)` for a directory or a weights file. A path that does not exist is
/// reported as such; a `config.yaml` or weights file that exists but cannot be read is left to
/// the reader, whose error names it.
fn locate(path: &Path) -> Result<(PathBuf, PathBuf)> {
    let is_dir = std::fs::metadata(path)
        .map_err(|source| ModelError::Io {
            path: path.to_owned(),
            source,
        })?
        .is_dir();
    let dir = if is_dir {
        path.to_owned()
    } else {
        path.parent().unwrap_or(Path::new(".")).to_owned()
    };
    let config = dir.join("config.yaml");
    if !config.exists() {
        return Err(ModelError::not_found(
            &config,
            "Vocos needs its config.yaml",
        ));
    }
    if !is_dir {
        return Ok((config, path.to_owned()));
    }
    ["pytorch_model.bin", "model.safetensors"]
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.exists())
        .map(|weights| (config, weights))
        .ok_or_else(|| ModelError::NoWeightsInDir {
            dir,
            looked_for: "pytorch_model.bin or model.safetensors".into(),
        })
}

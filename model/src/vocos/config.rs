//! Vocos `config.yaml` as published on the hub: `feature_extractor`, `backbone` and `head`, each
//! a `class_path` with `init_args` (the layout `Vocos.from_hparams` reads).

use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::checkpoint::read_file;
use crate::error::{ModelError, Result};

/// The largest bandwidth of EnCodec 24 kHz (32 codebooks).
const MAX_ENCODEC_KBPS: f32 = 24.0;
/// Bounds on the sizes the mel front end and the head allocate from the config alone (the
/// analysis window, the mel filterbank and ISTFT frames when the checkpoint does not hold them);
/// the released models use n_fft 1024/1280 and 100 mels.
const MAX_N_FFT: usize = 1 << 15;
const MAX_N_MELS: usize = 1024;

/// The official charactr/vocos-encodec-24khz model configuration.
pub const RELEASED_ENCODEC_YAML: &str = "\
feature_extractor:
  class_path: vocos.feature_extractors.EncodecFeatures
  init_args:
    encodec_model: encodec_24khz
    bandwidths: [1.5, 3.0, 6.0, 12.0]
    train_codebooks: false
backbone:
  class_path: vocos.models.VocosBackbone
  init_args:
    input_channels: 128
    dim: 384
    intermediate_dim: 1152
    num_layers: 8
    adanorm_num_embeddings: 4
head:
  class_path: vocos.heads.ISTFTHead
  init_args:
    dim: 384
    n_fft: 1280
    hop_length: 320
    padding: same
";

/// The official charactr/vocos-mel-24khz model configuration.
pub const RELEASED_MEL_YAML: &str = "\
feature_extractor:
  class_path: vocos.feature_extractors.MelSpectrogramFeatures
  init_args:
    sample_rate: 24000
    n_fft: 1024
    hop_length: 256
    n_mels: 100
    padding: center
backbone:
  class_path: vocos.models.VocosBackbone
  init_args:
    input_channels: 100
    dim: 512
    intermediate_dim: 1536
    num_layers: 8
head:
  class_path: vocos.heads.ISTFTHead
  init_args:
    dim: 512
    n_fft: 1024
    hop_length: 256
    padding: center
";

#[derive(Deserialize)]
struct Component {
    class_path: String,
    #[serde(default)]
    init_args: serde_yaml_ng::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FeatureConfig {
    /// `vocos.feature_extractors.EncodecFeatures`.
    Encodec { bandwidths: Vec<f32> },
    /// `vocos.feature_extractors.MelSpectrogramFeatures`.
    Mel(MelConfig),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct MelConfig {
    pub sample_rate: usize,
    pub n_fft: usize,
    pub hop_length: usize,
    pub n_mels: usize,
    pub padding: String,
}

impl Default for MelConfig {
    fn default() -> Self {
        Self {
            sample_rate: crate::SAMPLE_RATE,
            n_fft: 1024,
            hop_length: 256,
            n_mels: 100,
            padding: "center".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct EncodecFeatureArgs {
    #[serde(default = "default_bandwidths")]
    bandwidths: Vec<f32>,
    #[serde(default = "default_encodec_model")]
    encodec_model: String,
}

fn default_bandwidths() -> Vec<f32> {
    vec![1.5, 3.0, 6.0, 12.0]
}

fn default_encodec_model() -> String {
    "encodec_24khz".into()
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BackboneConfig {
    pub input_channels: usize,
    pub dim: usize,
    pub intermediate_dim: usize,
    pub num_layers: usize,
    /// Rows of the AdaLayerNorm tables (one per bandwidth); `None` means plain LayerNorm.
    #[serde(default)]
    pub adanorm_num_embeddings: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HeadConfig {
    pub dim: usize,
    pub n_fft: usize,
    pub hop_length: usize,
    #[serde(default = "default_padding")]
    pub padding: String,
}

impl HeadConfig {
    /// `center` padding (mel variant) or `same` (EnCodec variant, and anything else).
    pub fn istft_padding(&self) -> vocos_dsp::istft::IstftPadding {
        if self.padding == "center" {
            vocos_dsp::istft::IstftPadding::Center
        } else {
            vocos_dsp::istft::IstftPadding::Same
        }
    }
}

fn default_padding() -> String {
    "same".into()
}

#[derive(Debug, Clone, PartialEq)]
pub struct VocosConfig {
    pub features: FeatureConfig,
    pub backbone: BackboneConfig,
    pub head: HeadConfig,
}

impl VocosConfig {
    /// The configuration of charactr/vocos-encodec-24khz.
    pub fn released_encodec() -> Self {
        Self::from_yaml(
            RELEASED_ENCODEC_YAML,
            Path::new("vocos-encodec-24khz/config.yaml"),
        )
        .expect("the released configuration parses")
    }

    /// The configuration of charactr/vocos-mel-24khz.
    pub fn released_mel() -> Self {
        Self::from_yaml(RELEASED_MEL_YAML, Path::new("vocos-mel-24khz/config.yaml"))
            .expect("the released configuration parses")
    }

    /// Audio samples per feature frame (320 for the EnCodec variant, 256 for mel).
    pub fn hop(&self) -> usize {
        self.head.hop_length
    }

    /// Samples past a frame's start that the front end needs to finish that frame's features,
    /// beyond the frame itself: none for EnCodec codes (the causal encoder finishes frame `t` with
    /// the frame's last sample); for the centred mel window, `n_fft / 2 - hop` (frame `t` ends
    /// at sample `t * hop + n_fft / 2 - 1`; 256 for the released mel model).
    pub fn front_end_lookahead(&self) -> usize {
        match &self.features {
            FeatureConfig::Encodec { .. } => 0,
            FeatureConfig::Mel(mel) => (mel.n_fft / 2).saturating_sub(mel.hop_length),
        }
    }

    /// Input-to-output delay in samples of the whole stream audio -> features -> Vocos, for
    /// input pushed in whole frames: the front end's lookahead, the backbone's
    /// [`LOOKAHEAD`](super::backbone::LOOKAHEAD) frames, and the samples the head's inverse STFT
    /// trims at the start (output sample `n` waits for hidden frame `floor((n + trim) / hop)`).
    /// 9120 (28.5 frames) for the released EnCodec variant, 7680 (30 hops) for mel.
    pub fn stream_latency(&self) -> usize {
        self.front_end_lookahead()
            + super::backbone::LOOKAHEAD * self.hop()
            + vocos_dsp::istft::trim(self.head.istft_padding(), self.head.n_fft, self.hop())
    }

    pub fn from_yaml_file(path: &Path) -> Result<Self> {
        let bytes = read_file(path)?;
        let text = String::from_utf8(bytes).map_err(|e| ModelError::Config {
            path: path.to_owned(),
            reason: format!("not UTF-8 text: {e}"),
        })?;
        Self::from_yaml(&text, path)
    }

    pub fn from_yaml(text: &str, path: &Path) -> Result<Self> {
        let bad = |reason: String| ModelError::Config {
            path: path.to_owned(),
            reason,
        };
        #[derive(Deserialize)]
        struct Raw {
            feature_extractor: Component,
            backbone: Component,
            head: Component,
        }
        let raw: Raw = serde_yaml_ng::from_str(text).map_err(|e| bad(e.to_string()))?;
        let args = |c: &Component, what: &str| -> Result<serde_yaml_ng::Value> {
            if c.init_args.is_null() {
                return Err(bad(format!("{what}: missing init_args")));
            }
            Ok(c.init_args.clone())
        };
        let features = match class_name(&raw.feature_extractor.class_path) {
            "EncodecFeatures" => {
                let a: EncodecFeatureArgs = if raw.feature_extractor.init_args.is_null() {
                    EncodecFeatureArgs {
                        bandwidths: default_bandwidths(),
                        encodec_model: default_encodec_model(),
                    }
                } else {
                    parse_args(
                        raw.feature_extractor.init_args.clone(),
                        "feature_extractor",
                        path,
                    )?
                };
                if a.encodec_model != "encodec_24khz" {
                    return Err(bad(format!(
                        "encodec_model `{}` (only encodec_24khz is supported)",
                        a.encodec_model
                    )));
                }
                if a.bandwidths.is_empty()
                    || a.bandwidths
                        .iter()
                        .any(|b| !(*b > 0.0 && *b <= MAX_ENCODEC_KBPS))
                {
                    return Err(bad(format!(
                        "bandwidths {:?} must be a non-empty list in (0, {MAX_ENCODEC_KBPS}] kbps",
                        a.bandwidths
                    )));
                }
                FeatureConfig::Encodec {
                    bandwidths: a.bandwidths,
                }
            }
            "MelSpectrogramFeatures" => {
                let mel: MelConfig = if raw.feature_extractor.init_args.is_null() {
                    MelConfig::default()
                } else {
                    parse_args(
                        raw.feature_extractor.init_args.clone(),
                        "feature_extractor",
                        path,
                    )?
                };
                if mel.sample_rate == 0
                    || !(1..=MAX_N_MELS).contains(&mel.n_mels)
                    || !(1..=mel.n_fft).contains(&mel.hop_length)
                    || mel.n_fft > MAX_N_FFT
                {
                    return Err(bad(format!(
                        "mel sample_rate {}, n_mels {}, hop_length {}, n_fft {}: expected \
                         sample_rate > 0, 0 < n_mels <= {MAX_N_MELS}, 0 < hop_length <= n_fft <= \
                         {MAX_N_FFT}",
                        mel.sample_rate, mel.n_mels, mel.hop_length, mel.n_fft
                    )));
                }
                if mel.padding != "center" {
                    return Err(bad(format!(
                        "mel padding `{}` (only center is supported)",
                        mel.padding
                    )));
                }
                FeatureConfig::Mel(mel)
            }
            other => return Err(bad(format!("unsupported feature extractor `{other}`"))),
        };
        if class_name(&raw.backbone.class_path) != "VocosBackbone" {
            return Err(bad(format!(
                "unsupported backbone `{}`",
                raw.backbone.class_path
            )));
        }
        if class_name(&raw.head.class_path) != "ISTFTHead" {
            return Err(bad(format!("unsupported head `{}`", raw.head.class_path)));
        }
        let backbone: BackboneConfig =
            parse_args(args(&raw.backbone, "backbone")?, "backbone", path)?;
        let head: HeadConfig = parse_args(args(&raw.head, "head")?, "head", path)?;
        if head.padding != "same" && head.padding != "center" {
            return Err(bad(format!(
                "head padding `{}` (expected same or center)",
                head.padding
            )));
        }
        if head.dim != backbone.dim
            || head.hop_length == 0
            || head.n_fft < head.hop_length
            || !head.n_fft.is_multiple_of(2)
            || head.n_fft > MAX_N_FFT
        {
            return Err(bad(format!(
                "head dim must equal backbone dim, and 0 < hop <= n_fft <= {MAX_N_FFT} with n_fft even"
            )));
        }
        if let FeatureConfig::Encodec { bandwidths } = &features
            && backbone.adanorm_num_embeddings != Some(bandwidths.len())
        {
            return Err(bad(format!(
                "adanorm_num_embeddings {:?} must equal the number of bandwidths {}",
                backbone.adanorm_num_embeddings,
                bandwidths.len()
            )));
        }
        Ok(Self {
            features,
            backbone,
            head,
        })
    }
}

fn parse_args<T: DeserializeOwned>(
    value: serde_yaml_ng::Value,
    what: &str,
    path: &Path,
) -> Result<T> {
    serde_yaml_ng::from_value(value).map_err(|e| ModelError::Config {
        path: path.to_owned(),
        reason: format!("{what}: {e}"),
    })
}

fn class_name(class_path: &str) -> &str {
    class_path.rsplit('.').next().unwrap_or(class_path)
}

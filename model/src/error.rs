//! Typed errors of model loading and inference. Every loading error names the file and, where
//! one is at fault, the tensor.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a readable checkpoint (torch zip pickle or safetensors): {reason}")]
    UnreadableCheckpoint { path: PathBuf, reason: String },
    #[error("{path}: tensor `{name}` is missing")]
    MissingTensor { path: PathBuf, name: String },
    #[error("{path}: tensor `{name}` has shape {actual:?}, expected {expected:?}")]
    ShapeMismatch {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
        actual: Vec<usize>,
    },
    #[error("{path}: tensor `{name}` has dtype {actual}, expected {expected}")]
    DType {
        path: PathBuf,
        name: String,
        expected: String,
        actual: String,
    },
    /// A tensor record reaching past the data that holds it (checked before allocating).
    #[error("{path}: tensor `{name}` needs {needed} bytes of its storage, which holds {available}")]
    TensorOutOfBounds {
        path: PathBuf,
        name: String,
        /// Bytes up to the tensor's end (saturating at `u128::MAX`).
        needed: u128,
        available: u64,
    },
    #[error("{path}: tensor `{name}` holds non-finite values")]
    NonFiniteTensor { path: PathBuf, name: String },
    #[error("invalid config {path}: {reason}")]
    Config { path: PathBuf, reason: String },
    /// The weights do not have the tensors or shapes the hyper-parameters in `config` call for:
    /// the config or the weights are not the ones for this model. Names both files.
    #[error("{source} (as expected by {config})")]
    DoesNotFitConfig {
        config: PathBuf,
        source: Box<ModelError>,
    },
    #[error("{dir}: no weights found (looked for {looked_for})")]
    NoWeightsInDir { dir: PathBuf, looked_for: String },
    /// Codes of another number of codebooks than the model takes.
    #[error("{given} codebooks of codes given, this model takes 1 to {max}")]
    CodebookCount { given: usize, max: usize },
    /// Codebooks of unequal (or no) frames in one code array.
    #[error(
        "codebook {codebook} has {frames} frames of codes, codebook 0 has {expected} (at least 1 needed)"
    )]
    CodeFrames {
        codebook: usize,
        frames: usize,
        expected: usize,
    },
    #[error("code {code} in codebook {codebook}, frame {frame} is out of range 0..{bins}")]
    CodeOutOfRange {
        code: u32,
        codebook: usize,
        frame: usize,
        bins: usize,
    },
    /// Per-frame values (bandwidth ids, codebook counts) of another count than the frames.
    #[error("{given} per-frame values for {frames} frames")]
    FrameCount { given: usize, frames: usize },
    #[error("features of {width} values per frame for a model of {expected} inputs")]
    FeatureWidth { width: usize, expected: usize },
    #[error("EnCodec's hop {encodec} differs from Vocos' hop {vocos}")]
    HopMismatch { encodec: usize, vocos: usize },
    /// A bandwidth the model was not trained for.
    #[error("bandwidth {kbps} kbps is not one of this model's {offered:?}")]
    Bandwidth { kbps: f32, offered: Vec<f32> },
    #[error("bandwidth id {id} out of range 0..{count}")]
    BandwidthId { id: usize, count: usize },
    #[error("the EnCodec variant of Vocos needs a bandwidth id for every frame")]
    MissingBandwidthId,
    /// A call that only the other variant of Vocos serves.
    #[error("this needs the {needed} variant of Vocos")]
    Variant { needed: &'static str },
    #[error("{requested} codebooks requested, the quantizer has {available}")]
    Codebooks { requested: usize, available: usize },
    #[error("empty audio")]
    EmptyAudio,
    #[error("audio sample {sample} is not finite")]
    NonFiniteAudio { sample: usize },
    /// A stream call with another number of channels than the stream has.
    #[error("{inputs} inputs and {outputs} outputs for a stream of {expected} channels")]
    Channels {
        expected: usize,
        inputs: usize,
        outputs: usize,
    },
    #[error("channels of different lengths ({first} and {other} samples) in one call")]
    ChannelLengths { first: usize, other: usize },
    #[error("mel analysis: {0}")]
    Mel(#[from] vocos_dsp::stft::StftError),
    #[error("inverse STFT: {0}")]
    Istft(#[from] vocos_dsp::istft::IstftError),
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, ModelError>;

impl ModelError {
    /// An error of building a model from weights with the hyper-parameters of `config`: a
    /// missing tensor, a shape or a size that disagrees with the config also names the config.
    pub fn against_config(self, config: &std::path::Path) -> Self {
        match self {
            ModelError::MissingTensor { .. }
            | ModelError::ShapeMismatch { .. }
            | ModelError::Config { .. } => ModelError::DoesNotFitConfig {
                config: config.to_owned(),
                source: Box::new(self),
            },
            other => other,
        }
    }

    /// `path` does not exist (or is not what the loader needs there), with a reason.
    pub fn not_found(path: &std::path::Path, reason: &str) -> Self {
        ModelError::Io {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, reason.to_owned()),
        }
    }
}

//! Errors of the `vocos` command-line tool. Each prints as one line naming the file at fault.

use std::path::PathBuf;

use vocos_dsp::resample_clip::ClipResampleError;
use vocos_model::error::ModelError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot read WAV {path}: {source}")]
    ReadWav { path: PathBuf, source: hound::Error },
    #[error("cannot write WAV {path}: {source}")]
    WriteWav { path: PathBuf, source: hound::Error },
    #[error("{path}: {reason}")]
    BadAudio { path: PathBuf, reason: String },
    #[error("cannot read codes {path}: {reason}")]
    ReadCodes { path: PathBuf, reason: String },
    #[error("cannot write codes {path}: {source}")]
    WriteCodes {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Resample(#[from] ClipResampleError),
    #[error("{0}")]
    Model(#[from] ModelError),
    #[error("{0}")]
    Hub(#[from] vocos_plugin::hub::HubError),
    #[error("{0}")]
    Usage(String),
}

pub type Result<T> = std::result::Result<T, CliError>;

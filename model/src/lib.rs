//! Neural networks of vocos-plugin in candle: the EnCodec 24 kHz encoder with its residual vector
//! quantizer, and the Vocos decoder (EnCodec and mel variants), plus checkpoint and config loading.

pub mod checkpoint;
pub mod codec_stream;
pub mod encodec;
pub mod error;
pub mod kernels;
pub mod mel_stream;
pub mod random_weights;
pub mod streaming;
pub mod vocos;

/// The sample rate of every model here (EnCodec 24 kHz and both Vocos variants), in Hz.
pub const SAMPLE_RATE: usize = 24_000;

//! EnCodec hyper-parameters, read from a transformers `config.json` (`EncodecConfig`). Missing
//! fields take the values of the released 24 kHz model, so a bare original `.th` checkpoint is
//! the 24 kHz architecture.

use std::path::Path;

use serde::Deserialize;

use crate::error::{ModelError, Result};

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct EncodecConfig {
    pub target_bandwidths: Vec<f32>,
    pub sampling_rate: usize,
    pub audio_channels: usize,
    pub normalize: bool,
    /// Latent dimension (`dimension` in encodec).
    pub hidden_size: usize,
    pub num_filters: usize,
    pub num_residual_layers: usize,
    /// Decoder ratios; the encoder uses them reversed.
    pub upsampling_ratios: Vec<usize>,
    pub norm_type: String,
    pub kernel_size: usize,
    pub last_kernel_size: usize,
    pub residual_kernel_size: usize,
    pub dilation_growth_rate: usize,
    pub use_causal_conv: bool,
    pub pad_mode: String,
    pub compress: usize,
    pub num_lstm_layers: usize,
    pub codebook_size: usize,
    pub use_conv_shortcut: bool,
}

impl Default for EncodecConfig {
    fn default() -> Self {
        Self {
            target_bandwidths: vec![1.5, 3.0, 6.0, 12.0, 24.0],
            sampling_rate: 24_000,
            audio_channels: 1,
            normalize: false,
            hidden_size: 128,
            num_filters: 32,
            num_residual_layers: 1,
            upsampling_ratios: vec![8, 5, 4, 2],
            norm_type: "weight_norm".into(),
            kernel_size: 7,
            last_kernel_size: 7,
            residual_kernel_size: 3,
            dilation_growth_rate: 2,
            use_causal_conv: true,
            pad_mode: "reflect".into(),
            compress: 2,
            num_lstm_layers: 2,
            codebook_size: 1024,
            use_conv_shortcut: true,
        }
    }
}

impl EncodecConfig {
    /// Reads `config.json` and checks that it describes a model this crate runs: mono, causal,
    /// weight-normed, reflect-padded, without input normalisation (the 24 kHz family).
    pub fn from_json_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io { path: path.to_owned(), source })?;
        let config: Self = serde_json::from_str(&text)
            .map_err(|e| ModelError::Config { path: path.to_owned(), reason: e.to_string() })?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let unsupported = |reason: String| Err(ModelError::Config { path: path.to_owned(), reason });
        if self.audio_channels != 1 {
            return unsupported(format!("audio_channels {} (only mono EnCodec is supported)", self.audio_channels));
        }
        if !self.use_causal_conv || self.normalize {
            return unsupported("only the causal, unnormalised EnCodec (24 kHz family) is supported".into());
        }
        if self.norm_type != "weight_norm" || self.pad_mode != "reflect" {
            return unsupported(format!(
                "norm_type `{}` / pad_mode `{}` (expected weight_norm / reflect)",
                self.norm_type, self.pad_mode
            ));
        }
        if self.upsampling_ratios.is_empty() || self.codebook_size < 2 || self.target_bandwidths.is_empty() {
            return unsupported("empty upsampling_ratios or target_bandwidths, or codebook_size < 2".into());
        }
        if self.num_residual_layers == 0 || self.num_filters == 0 || self.hidden_size == 0 {
            return unsupported("num_residual_layers, num_filters and hidden_size must be positive".into());
        }
        Ok(())
    }

    /// Samples per latent frame: the product of the ratios (320 for 24 kHz).
    pub fn hop_length(&self) -> usize {
        self.upsampling_ratios.iter().product()
    }

    /// Latent frames per second, rounded up as encodec does (75 for 24 kHz).
    pub fn frame_rate(&self) -> usize {
        self.sampling_rate.div_ceil(self.hop_length())
    }

    /// Number of codebooks in the quantizer: enough for the largest target bandwidth.
    pub fn num_quantizers(&self) -> usize {
        let max_bw = self.target_bandwidths.iter().copied().fold(0.0f32, f32::max);
        self.codebooks_for_bandwidth(max_bw)
    }

    /// `max(1, floor(bandwidth * 1000 / (log2(bins) * frame_rate)))`: 1.5/3/6/12/24 kbps ->
    /// 2/4/8/16/32 codebooks at 24 kHz.
    pub fn codebooks_for_bandwidth(&self, kbps: f32) -> usize {
        let bits_per_frame = (self.codebook_size as f64).log2() * self.frame_rate() as f64;
        ((f64::from(kbps) * 1000.0 / bits_per_frame).floor() as usize).max(1)
    }

    /// Width of the LSTM and of the last strided conv: `num_filters * 2^len(ratios)`.
    pub fn lstm_width(&self) -> usize {
        self.num_filters << self.upsampling_ratios.len()
    }
}

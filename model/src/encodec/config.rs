//! EnCodec hyper-parameters, read from a transformers `config.json` (`EncodecConfig`). Missing
//! fields take the values of the released 24 kHz model, so a bare original `.th` checkpoint is
//! the 24 kHz architecture.

use std::path::Path;

use serde::Deserialize;

use crate::checkpoint::read_file;
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
    /// Must equal `hidden_size` (no projection around the quantizer); `None` means equal.
    pub codebook_dim: Option<usize>,
    /// Residual blocks use a 1x1 conv shortcut (`true_skip = False` in encodec), else identity.
    pub use_conv_shortcut: bool,
    /// Chunked encoding with overlap (the 48 kHz model); must be `None` here.
    pub chunk_length_s: Option<f32>,
}

impl Default for EncodecConfig {
    fn default() -> Self {
        Self {
            target_bandwidths: vec![1.5, 3.0, 6.0, 12.0, 24.0],
            sampling_rate: crate::SAMPLE_RATE,
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
            codebook_dim: None,
            use_conv_shortcut: true,
            chunk_length_s: None,
        }
    }
}

impl EncodecConfig {
    /// Reads `config.json` and checks that it describes a model this crate runs: mono, causal,
    /// weight-normed, reflect-padded, without input normalisation (the 24 kHz family).
    pub fn from_json_file(path: &Path) -> Result<Self> {
        let bytes = read_file(path)?;
        let config: Self = serde_json::from_slice(&bytes).map_err(|e| ModelError::Config {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let unsupported = |reason: String| {
            Err(ModelError::Config {
                path: path.to_owned(),
                reason,
            })
        };
        if self.audio_channels != 1 {
            return unsupported(format!(
                "audio_channels {} (only mono EnCodec is supported)",
                self.audio_channels
            ));
        }
        if !self.use_causal_conv || self.normalize || self.chunk_length_s.is_some() {
            return unsupported(
                "only the causal, unnormalised, unchunked EnCodec (24 kHz family) is supported"
                    .into(),
            );
        }
        if self.norm_type != "weight_norm" || self.pad_mode != "reflect" {
            return unsupported(format!(
                "norm_type `{}` / pad_mode `{}` (expected weight_norm / reflect)",
                self.norm_type, self.pad_mode
            ));
        }
        if self.codebook_dim.is_some_and(|d| d != self.hidden_size) {
            return unsupported(format!(
                "codebook_dim {:?} differs from hidden_size {} (quantizer projections are not supported)",
                self.codebook_dim, self.hidden_size
            ));
        }
        if self.upsampling_ratios.is_empty() || self.upsampling_ratios.contains(&0) {
            return unsupported(format!(
                "upsampling_ratios {:?} must be non-empty and positive",
                self.upsampling_ratios
            ));
        }
        if self
            .target_bandwidths
            .iter()
            .any(|b| !(b.is_finite() && *b > 0.0))
        {
            return unsupported(format!(
                "target_bandwidths {:?} must be finite and positive",
                self.target_bandwidths
            ));
        }
        if self.codebook_size < 2 || self.target_bandwidths.is_empty() || self.sampling_rate == 0 {
            return unsupported(
                "codebook_size < 2, no target_bandwidths or sampling_rate 0".into(),
            );
        }
        let positive = [
            ("num_residual_layers", self.num_residual_layers),
            ("num_filters", self.num_filters),
            ("hidden_size", self.hidden_size),
            ("kernel_size", self.kernel_size),
            ("last_kernel_size", self.last_kernel_size),
            ("residual_kernel_size", self.residual_kernel_size),
            ("dilation_growth_rate", self.dilation_growth_rate),
            ("compress", self.compress),
            ("num_lstm_layers", self.num_lstm_layers),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return unsupported(format!("{name} must be positive"));
        }
        // Bounds that keep every derived size (widths, hop, dilations) far from overflow.
        let hop = self
            .upsampling_ratios
            .iter()
            .try_fold(1usize, |acc, &r| acc.checked_mul(r));
        let width = self
            .num_filters
            .checked_shl(self.upsampling_ratios.len() as u32);
        let span = self
            .dilation_growth_rate
            .checked_pow(self.num_residual_layers as u32 - 1)
            .and_then(|d| d.checked_mul(self.residual_kernel_size));
        let kernels = [
            self.kernel_size,
            self.last_kernel_size,
            span.unwrap_or(usize::MAX),
        ];
        if hop.is_none_or(|h| h > 1 << 20)
            || width.is_none_or(|w| w > 1 << 16)
            || kernels.iter().any(|&k| k > 1 << 20)
        {
            return unsupported(
                "upsampling_ratios, num_filters, kernel sizes or dilations give unreasonably large sizes".into(),
            );
        }
        if self.compress > self.num_filters {
            return unsupported(format!(
                "compress {} exceeds num_filters {}",
                self.compress, self.num_filters
            ));
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
        let max_bw = self
            .target_bandwidths
            .iter()
            .copied()
            .fold(0.0f32, f32::max);
        self.codebooks_for_bandwidth(max_bw)
    }

    /// `max(1, floor(bandwidth * 1000 / (log2(bins) * frame_rate)))`: 1.5/3/6/12/24 kbps ->
    /// 2/4/8/16/32 codebooks at 24 kHz.
    pub fn codebooks_for_bandwidth(&self, kbps: f32) -> usize {
        let bits_per_frame = (self.codebook_size as f64).log2() * self.frame_rate() as f64;
        ((f64::from(kbps) * 1000.0 / bits_per_frame).floor() as usize).max(1)
    }
}

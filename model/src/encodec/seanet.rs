//! The SEANet encoder of EnCodec (encodec `modules/seanet.py`): its layers and their weights.
//! It runs as a stream ([`super::stream::EncoderStream`]); the offline encoder is that stream
//! given the whole clip and flushed.
//!
//! Layer list (`encoder.model.<i>`), with the encoder ratios reversed from the config's:
//! conv(1 -> F, k) ; per ratio r: residual blocks, ELU, strided conv(C -> 2C, k = 2r, s = r) ;
//! LSTM with skip ; ELU ; conv(-> latent dimension, last k).
//!
//! Precision: the layers at the audio rates compute in f32 like the reference; the two convs
//! that produce frames at the latent rate (the last strided conv, 4096 products per output at
//! 24 kHz, and the output conv, 3584) accumulate in f64. The latent can be a small difference of
//! large terms (the fixture models centre it with the bias), which magnifies rounding about
//! 15-fold. Measured on the full-size fixture: the reference itself is 1.2e-5 (of the peak) off
//! an f64 evaluation; all-f32 convs were 1.6e-5 off it, 2.7e-5 off the reference, and flipped RVQ
//! codes with margins up to 1.4e-3. The packed kernels every conv runs on (`kernels::Panels`)
//! sum these two layers in f64 (AVX-512: f32 sums of 16 products added in f64, at f32 speed;
//! AVX2 and portable: every product in f64): 1.7e-5 off the reference, one flip (margin
//! 2.1e-4).

use std::sync::Arc;

use super::config::EncodecConfig;
use super::conv::{ConvSpec, WeightNormConv1d};
use super::lstm::Lstm;
use super::names::EncodecWeights;
use crate::error::Result;

/// Residual block: `shortcut(x) + conv_1x1(ELU(conv_k(ELU(x))))`.
pub struct ResidualBlock {
    pub conv_k: Arc<WeightNormConv1d>,
    pub conv_1: WeightNormConv1d,
    /// The 1x1 conv shortcut (`use_conv_shortcut`), or `None` for the identity.
    pub shortcut: Option<WeightNormConv1d>,
}

impl ResidualBlock {
    fn load(
        weights: &EncodecWeights,
        name: &str,
        dim: usize,
        cfg: &EncodecConfig,
        dilation: usize,
    ) -> Result<Self> {
        let hidden = dim / cfg.compress;
        Ok(Self {
            conv_k: Arc::new(WeightNormConv1d::load(
                weights,
                &format!("{name}.block.1"),
                ConvSpec::new(dim, hidden, cfg.residual_kernel_size, 1, dilation),
                false,
            )?),
            conv_1: WeightNormConv1d::load(
                weights,
                &format!("{name}.block.3"),
                ConvSpec::new(hidden, dim, 1, 1, 1),
                false,
            )?,
            shortcut: if cfg.use_conv_shortcut {
                Some(WeightNormConv1d::load(
                    weights,
                    &format!("{name}.shortcut"),
                    ConvSpec::new(dim, dim, 1, 1, 1),
                    false,
                )?)
            } else {
                None
            },
        })
    }
}

/// One resolution of the encoder: residual blocks, then ELU and the strided down-sampling conv.
pub struct DownStage {
    pub blocks: Vec<Arc<ResidualBlock>>,
    pub down: Arc<WeightNormConv1d>,
}

pub struct SeanetEncoder {
    pub input_conv: Arc<WeightNormConv1d>,
    pub stages: Vec<DownStage>,
    pub lstm: Arc<Lstm>,
    pub output_conv: Arc<WeightNormConv1d>,
    /// Samples per latent frame (product of the strides).
    pub hop: usize,
}

impl SeanetEncoder {
    pub fn load(weights: &EncodecWeights, cfg: &EncodecConfig) -> Result<Self> {
        let mut index = 0;
        let mut next = || {
            let name = format!("encoder.model.{index}");
            index += 1;
            name
        };
        let mut channels = cfg.num_filters;
        let input_conv = Arc::new(WeightNormConv1d::load(
            weights,
            &next(),
            ConvSpec::new(1, channels, cfg.kernel_size, 1, 1),
            false,
        )?);
        let mut stages = Vec::new();
        let last_stage = cfg.upsampling_ratios.len() - 1;
        for (stage, &ratio) in cfg.upsampling_ratios.iter().rev().enumerate() {
            let blocks = (0..cfg.num_residual_layers)
                .map(|j| {
                    let dilation = cfg.dilation_growth_rate.pow(j as u32);
                    Ok(Arc::new(ResidualBlock::load(
                        weights,
                        &next(),
                        channels,
                        cfg,
                        dilation,
                    )?))
                })
                .collect::<Result<_>>()?;
            next(); // ELU
            let down = Arc::new(WeightNormConv1d::load(
                weights,
                &next(),
                ConvSpec::new(channels, 2 * channels, 2 * ratio, ratio, 1),
                stage == last_stage,
            )?);
            stages.push(DownStage { blocks, down });
            channels *= 2;
        }
        let lstm = Arc::new(Lstm::load(weights, &next(), channels, cfg.num_lstm_layers)?);
        next(); // ELU
        let output_conv = Arc::new(WeightNormConv1d::load(
            weights,
            &next(),
            ConvSpec::new(channels, cfg.hidden_size, cfg.last_kernel_size, 1, 1),
            true,
        )?);
        Ok(Self {
            hop: cfg.hop_length(),
            input_conv,
            stages,
            lstm,
            output_conv,
        })
    }
}

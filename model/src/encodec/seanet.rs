//! The SEANet encoder of EnCodec (encodec `modules/seanet.py`), offline form.
//!
//! Layer list (`encoder.model.<i>`), with the encoder ratios reversed from the config's:
//! conv(1 -> F, k) ; per ratio r: residual blocks, ELU, strided conv(C -> 2C, k = 2r, s = r) ;
//! LSTM with skip ; ELU ; conv(-> latent dimension, last k).

use candle_core::Tensor;

use super::config::EncodecConfig;
use super::conv::{ConvSpec, WeightNormConv1d};
use super::lstm::Lstm;
use super::names::EncodecWeights;
use crate::error::Result;

/// Residual block: `shortcut(x) + conv_1x1(ELU(conv_k(ELU(x))))`.
pub struct ResidualBlock {
    pub conv_k: WeightNormConv1d,
    pub conv_1: WeightNormConv1d,
    pub shortcut: WeightNormConv1d,
}

impl ResidualBlock {
    fn load(weights: &EncodecWeights, name: &str, dim: usize, cfg: &EncodecConfig, dilation: usize) -> Result<Self> {
        let hidden = dim / cfg.compress;
        Ok(Self {
            conv_k: WeightNormConv1d::load(
                weights,
                &format!("{name}.block.1"),
                ConvSpec::new(dim, hidden, cfg.residual_kernel_size, 1, dilation),
            )?,
            conv_1: WeightNormConv1d::load(weights, &format!("{name}.block.3"), ConvSpec::new(hidden, dim, 1, 1, 1))?,
            shortcut: WeightNormConv1d::load(weights, &format!("{name}.shortcut"), ConvSpec::new(dim, dim, 1, 1, 1))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.conv_1.forward(&self.conv_k.forward(&x.elu(1.0)?)?.elu(1.0)?)?;
        Ok((self.shortcut.forward(x)? + y)?)
    }
}

/// One resolution of the encoder: residual blocks, then ELU and the strided down-sampling conv.
pub struct DownStage {
    pub blocks: Vec<ResidualBlock>,
    pub down: WeightNormConv1d,
}

pub struct SeanetEncoder {
    pub input_conv: WeightNormConv1d,
    pub stages: Vec<DownStage>,
    pub lstm: Lstm,
    pub output_conv: WeightNormConv1d,
}

impl SeanetEncoder {
    pub fn load(weights: &EncodecWeights, cfg: &EncodecConfig) -> Result<Self> {
        if !cfg.use_conv_shortcut {
            return Err(crate::error::ModelError::Unsupported {
                path: weights.checkpoint.path().to_owned(),
                reason: "use_conv_shortcut = false (identity residual shortcut) is not supported".into(),
            });
        }
        let mut index = 0;
        let mut next = || {
            let name = format!("encoder.model.{index}");
            index += 1;
            name
        };
        let mut channels = cfg.num_filters;
        let input_conv = WeightNormConv1d::load(weights, &next(), ConvSpec::new(1, channels, cfg.kernel_size, 1, 1))?;
        let mut stages = Vec::new();
        for &ratio in cfg.upsampling_ratios.iter().rev() {
            let blocks = (0..cfg.num_residual_layers)
                .map(|j| {
                    let dilation = cfg.dilation_growth_rate.pow(j as u32);
                    ResidualBlock::load(weights, &next(), channels, cfg, dilation)
                })
                .collect::<Result<_>>()?;
            next(); // ELU
            let down = WeightNormConv1d::load(weights, &next(), ConvSpec::new(channels, 2 * channels, 2 * ratio, ratio, 1))?;
            stages.push(DownStage { blocks, down });
            channels *= 2;
        }
        let lstm = Lstm::load(weights, &next(), channels, cfg.num_lstm_layers)?;
        next(); // ELU
        let output_conv =
            WeightNormConv1d::load(weights, &next(), ConvSpec::new(channels, cfg.hidden_size, cfg.last_kernel_size, 1, 1))?;
        Ok(Self { input_conv, stages, lstm, output_conv })
    }

    /// Encodes `audio` `(1, 1, N)` to the latent `(1, D, ceil(N / hop))`.
    pub fn forward(&self, audio: &Tensor) -> Result<Tensor> {
        let mut x = self.input_conv.forward(audio)?;
        for stage in &self.stages {
            for block in &stage.blocks {
                x = block.forward(&x)?;
            }
            x = stage.down.forward(&x.elu(1.0)?)?;
        }
        let frames = x.squeeze(0)?.t()?.contiguous()?; // (T, C)
        let mut state = self.lstm.initial_state();
        let y = self.lstm.forward(&frames, &mut state)?.t()?.unsqueeze(0)?; // (1, C, T)
        let y = y.elu(1.0)?;
        self.output_conv.forward(&y.contiguous()?)
    }
}

//! The SEANet encoder of EnCodec (encodec `modules/seanet.py`), offline form.
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
//! an f64 evaluation; all-f32 here was 1.6e-5 off it, 2.7e-5 off the reference, and flipped RVQ
//! codes with margins up to 1.4e-3; with these two layers in f64 it is 1.25e-5 off the
//! reference with one flip (margin 1.9e-4). The streaming kernels (`kernels::Panels`, AVX-512)
//! add f32 sums of 16 products in f64, at f32 speed: 1.7e-5 off the reference, the same single
//! flip (margin 2.1e-4).

use candle_core::{DType, Tensor};
use rayon::prelude::*;

use super::activation::elu;
use super::config::EncodecConfig;
use super::conv::{ConvSpec, WeightNormConv1d};
use super::lstm::Lstm;
use super::names::EncodecWeights;
use crate::error::Result;

/// Residual block: `shortcut(x) + conv_1x1(ELU(conv_k(ELU(x))))`.
pub struct ResidualBlock {
    pub conv_k: WeightNormConv1d,
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
            conv_k: WeightNormConv1d::load(
                weights,
                &format!("{name}.block.1"),
                ConvSpec::new(dim, hidden, cfg.residual_kernel_size, 1, dilation),
                DType::F32,
            )?,
            conv_1: WeightNormConv1d::load(
                weights,
                &format!("{name}.block.3"),
                ConvSpec::new(hidden, dim, 1, 1, 1),
                DType::F32,
            )?,
            shortcut: if cfg.use_conv_shortcut {
                Some(WeightNormConv1d::load(
                    weights,
                    &format!("{name}.shortcut"),
                    ConvSpec::new(dim, dim, 1, 1, 1),
                    DType::F32,
                )?)
            } else {
                None
            },
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self
            .conv_1
            .forward(&elu(&self.conv_k.forward(&elu(x)?)?)?)?;
        let skip = match &self.shortcut {
            Some(conv) => conv.forward(x)?,
            None => x.clone(),
        };
        Ok((skip + y)?)
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
    /// Samples per latent frame (product of the strides).
    hop: usize,
    /// How many samples before a frame's first sample the conv stack (input conv to the last
    /// strided conv) can see: `sum(padding_total * input stride)` over its convs (478 at 24 kHz).
    conv_lookback: usize,
}

/// Latent frames per chunk of the offline conv stack. Chunks keep every intermediate tensor a
/// few MB (cache-resident, recycled by the allocator) instead of hundreds of MB for long inputs;
/// each chunk recomputes `ceil(conv_lookback / hop)` frames of context (2 at 24 kHz, 1.6 %).
/// 128 frames (1.7 s) measured fastest of 32/64/128/256 on the full-size model.
pub const CHUNK_FRAMES: usize = 128;

impl SeanetEncoder {
    pub fn load(weights: &EncodecWeights, cfg: &EncodecConfig) -> Result<Self> {
        let mut index = 0;
        let mut next = || {
            let name = format!("encoder.model.{index}");
            index += 1;
            name
        };
        let mut channels = cfg.num_filters;
        let input_conv = WeightNormConv1d::load(
            weights,
            &next(),
            ConvSpec::new(1, channels, cfg.kernel_size, 1, 1),
            DType::F32,
        )?;
        let mut stages = Vec::new();
        let last_stage = cfg.upsampling_ratios.len() - 1;
        for (stage, &ratio) in cfg.upsampling_ratios.iter().rev().enumerate() {
            let blocks = (0..cfg.num_residual_layers)
                .map(|j| {
                    let dilation = cfg.dilation_growth_rate.pow(j as u32);
                    ResidualBlock::load(weights, &next(), channels, cfg, dilation)
                })
                .collect::<Result<_>>()?;
            next(); // ELU
            let down = WeightNormConv1d::load(
                weights,
                &next(),
                ConvSpec::new(channels, 2 * channels, 2 * ratio, ratio, 1),
                if stage == last_stage {
                    DType::F64
                } else {
                    DType::F32
                },
            )?;
            stages.push(DownStage { blocks, down });
            channels *= 2;
        }
        let lstm = Lstm::load(weights, &next(), channels, cfg.num_lstm_layers)?;
        next(); // ELU
        let output_conv = WeightNormConv1d::load(
            weights,
            &next(),
            ConvSpec::new(channels, cfg.hidden_size, cfg.last_kernel_size, 1, 1),
            DType::F64,
        )?;
        Ok(Self {
            hop: cfg.hop_length(),
            conv_lookback: conv_lookback(&input_conv, &stages),
            input_conv,
            stages,
            lstm,
            output_conv,
        })
    }

    /// Encodes time-major `audio` `(N, 1)`, `N >= 1`, to the time-major latent
    /// `(ceil(N / hop), D)`.
    pub fn forward(&self, audio: &Tensor) -> Result<Tensor> {
        self.forward_in_chunks(audio, CHUNK_FRAMES)
    }

    /// [`Self::forward`] with the conv stack run `chunk_frames` latent frames at a time. Exact:
    /// the convs are causal, so a chunk that starts `ceil(conv_lookback / hop)` frames early
    /// computes its frames from the same samples as the whole-signal pass; chunks start and end
    /// on multiples of the hop, where the whole-signal pass adds no right padding, and the first
    /// chunk starts at sample 0 with the reference's reflect padding. Chunks are at least
    /// `context + 1` frames, so every chunk is longer than any layer's padding (encodec's
    /// special case for inputs not longer than the padding stays where the reference has it).
    pub fn forward_in_chunks(&self, audio: &Tensor, chunk_frames: usize) -> Result<Tensor> {
        let samples = audio.dim(0)?;
        let frames = samples.div_ceil(self.hop);
        let context = self.conv_lookback.div_ceil(self.hop);
        let chunk_frames = chunk_frames.max(context + 1);
        // Chunks are independent: run them on both cores (gemm inside also uses rayon).
        let chunks = (0..frames.div_ceil(chunk_frames))
            .into_par_iter()
            .map(|index| {
                let first = index * chunk_frames;
                let end = first.saturating_add(chunk_frames).min(frames);
                let lead = context.min(first);
                let start_sample = (first - lead) * self.hop;
                let end_sample = (end * self.hop).min(samples);
                let segment = audio.narrow(0, start_sample, end_sample - start_sample)?;
                Ok(self.conv_stack(&segment)?.narrow(0, lead, end - first)?)
            })
            .collect::<Result<Vec<_>>>()?;
        let x = Tensor::cat(&chunks, 0)?;
        let mut state = self.lstm.initial_state();
        let y = self.lstm.forward(&x, &mut state)?;
        self.output_conv.forward(&elu(&y)?)
    }

    /// Input conv, residual blocks and strided convs: `(L, 1)` -> `(ceil(L / hop), C)`.
    fn conv_stack(&self, audio: &Tensor) -> Result<Tensor> {
        let mut x = self.input_conv.forward(audio)?;
        for stage in &self.stages {
            for block in &stage.blocks {
                x = block.forward(&x)?;
            }
            x = stage.down.forward(&elu(&x)?)?;
        }
        Ok(x)
    }
}

/// `sum(padding_total * input stride)` over the convs of the stack: the causal look-back in
/// input samples. (Within a residual block only the k-tap conv looks back; 1x1 convs do not.)
fn conv_lookback(input_conv: &WeightNormConv1d, stages: &[DownStage]) -> usize {
    let mut stride = 1;
    let mut lookback = input_conv.spec.padding_total();
    for stage in stages {
        for block in &stage.blocks {
            lookback += block.conv_k.spec.padding_total() * stride;
        }
        lookback += stage.down.spec.padding_total() * stride;
        stride *= stage.down.spec.stride;
    }
    lookback
}

//! Streaming form of the EnCodec encoder: audio in any chunk sizes, latent frames out as soon
//! as they are final, equal to the offline encoder's frames.
//!
//! Every conv keeps the padded input it has not consumed yet (its tail, at its own rate); the
//! LSTM carries its state. The reference pads each conv's input on the left with the
//! reflection of its first samples (`pad1d(mode='reflect')`), so at the stream start a conv
//! with padding `P` waits until its input has `P + 1` rows, then builds that reflection; after
//! that it is an ordinary causal conv, each output final as soon as its last input row is. The
//! stream is thus exact from sample 0.
//!
//! Timing: the encoder works on whole frames of `hop` samples. Latent frame `t` is final once
//! input sample `hop * t + hop - 1` has been pushed, except at the stream start, where the
//! output conv's reflection (kernel 7: padding 6 frames) makes frames `0..=6` final together
//! with frame 6. Pushing `n` samples in total has produced `floor(n / hop)` frames once
//! `n >= 7 * hop`.

use std::sync::Arc;

use candle_core::{Device, Tensor};

use super::Encodec;
use super::activation::elu;
use super::conv::{WeightNormConv1d, reflect_pad};
use super::lstm::LstmState;
use super::seanet::ResidualBlock;
use crate::error::Result;

/// `a` followed by `b` along time (rows); `a` may be absent.
fn append(a: Option<Tensor>, b: &Tensor) -> Result<Tensor> {
    Ok(match a {
        Some(a) => Tensor::cat(&[&a, b], 0)?,
        None => b.clone(),
    })
}

/// Rows `from..` of `x`, or `None` if there are none.
fn rows_from(x: &Tensor, from: usize) -> Result<Option<Tensor>> {
    let len = x.dim(0)?;
    Ok((from < len)
        .then(|| x.narrow(0, from, len - from))
        .transpose()?)
}

/// The streaming state of one causal conv.
#[derive(Default)]
struct ConvTail {
    /// Whether the stream-start reflection has been built.
    started: bool,
    /// Input not consumed yet: before the start the raw rows, after it the padded input from
    /// the first window still to compute.
    pending: Option<Tensor>,
}

impl ConvTail {
    /// Takes the next input rows `(n, in)`, returns the outputs now final `(m, out)`.
    fn step(&mut self, conv: &WeightNormConv1d, x: &Tensor) -> Result<Option<Tensor>> {
        let mut padded = append(self.pending.take(), x)?;
        if !self.started {
            let pad = conv.spec.padding_total();
            if padded.dim(0)? <= pad {
                self.pending = Some(padded);
                return Ok(None);
            }
            padded = reflect_pad(&padded, 0, pad, 0)?;
            self.started = true;
        }
        let (len, span, stride) = (
            padded.dim(0)?,
            conv.spec.effective_kernel(),
            conv.spec.stride,
        );
        if len < span {
            self.pending = Some(padded);
            return Ok(None);
        }
        let outputs = (len - span) / stride + 1;
        let y = conv.convolve(&padded.narrow(0, 0, (outputs - 1) * stride + span)?)?;
        self.pending = rows_from(&padded, outputs * stride)?;
        Ok(Some(y))
    }
}

/// The streaming state of a residual block: its k-tap conv's tail, and the block inputs whose
/// branch output is not final yet (the shortcut is added to it row by row).
#[derive(Default)]
struct ResidualTail {
    conv_k: ConvTail,
    waiting: Option<Tensor>,
}

impl ResidualTail {
    fn step(&mut self, block: &ResidualBlock, x: &Tensor) -> Result<Option<Tensor>> {
        let waiting = append(self.waiting.take(), x)?;
        let Some(y) = self.conv_k.step(&block.conv_k, &elu(x)?)? else {
            self.waiting = Some(waiting);
            return Ok(None);
        };
        let done = y.dim(0)?;
        let y = block.conv_1.forward(&elu(&y)?)?;
        let input = waiting.narrow(0, 0, done)?;
        let skip = match &block.shortcut {
            Some(conv) => conv.forward(&input)?,
            None => input,
        };
        self.waiting = rows_from(&waiting, done)?;
        Ok(Some((skip + y)?))
    }
}

/// One down-sampling stage: its residual blocks and its strided conv.
#[derive(Default)]
struct StageTail {
    blocks: Vec<ResidualTail>,
    down: ConvTail,
}

pub struct EncoderStream {
    model: Arc<Encodec>,
    /// Samples not yet a whole frame.
    samples: Vec<f32>,
    input: ConvTail,
    stages: Vec<StageTail>,
    lstm: LstmState,
    output: ConvTail,
}

impl EncoderStream {
    pub fn new(model: Arc<Encodec>) -> Self {
        let encoder = model.encoder();
        let stages = encoder
            .stages
            .iter()
            .map(|stage| StageTail {
                blocks: stage
                    .blocks
                    .iter()
                    .map(|_| ResidualTail::default())
                    .collect(),
                down: ConvTail::default(),
            })
            .collect();
        let hop = model.config().hop_length();
        Self {
            lstm: encoder.lstm.initial_state(),
            samples: Vec::with_capacity(2 * hop),
            input: ConvTail::default(),
            stages,
            output: ConvTail::default(),
            model,
        }
    }

    pub fn hop(&self) -> usize {
        self.model.config().hop_length()
    }

    /// Feeds mono samples at the model's rate (finite; check with
    /// [`super::check_audio`] first) and returns the latent frames that became final,
    /// time-major `(frames, D)`, or `None`.
    pub fn push(&mut self, audio: &[f32]) -> Result<Option<Tensor>> {
        let hop = self.hop();
        self.samples.extend_from_slice(audio);
        let whole = self.samples.len() / hop * hop;
        if whole == 0 {
            return Ok(None);
        }
        let x = Tensor::from_slice(&self.samples[..whole], (whole, 1), &Device::Cpu)?;
        self.samples.drain(..whole);
        let encoder = self.model.encoder();
        let Some(mut x) = self.input.step(&encoder.input_conv, &x)? else {
            return Ok(None);
        };
        for (stage, tail) in encoder.stages.iter().zip(&mut self.stages) {
            for (block, block_tail) in stage.blocks.iter().zip(&mut tail.blocks) {
                match block_tail.step(block, &x)? {
                    Some(y) => x = y,
                    None => return Ok(None),
                }
            }
            match tail.down.step(&stage.down, &elu(&x)?)? {
                Some(y) => x = y,
                None => return Ok(None),
            }
        }
        let y = encoder.lstm.forward(&x, &mut self.lstm)?;
        self.output.step(&encoder.output_conv, &elu(&y)?)
    }

    /// Back to the stream start, without allocating.
    pub fn reset(&mut self) {
        self.samples.clear();
        self.input = ConvTail::default();
        for stage in &mut self.stages {
            stage
                .blocks
                .iter_mut()
                .for_each(|b| *b = ResidualTail::default());
            stage.down = ConvTail::default();
        }
        let lstm = &mut self.lstm;
        lstm.h
            .iter_mut()
            .chain(&mut lstm.c)
            .for_each(|v| v.fill(0.0));
        self.output = ConvTail::default();
    }
}

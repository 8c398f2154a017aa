//! Streaming form of the EnCodec encoder: audio in any chunk sizes, latent frames out as soon
//! as they are final, equal to the offline encoder's frames.
//!
//! One stream runs several channels (independent signals, e.g. left and right) in step: every
//! signal here is `(N, L, C)`, channel-major, and each layer is one matrix product over all
//! channels' rows, so the weights are read once per step whatever the channel count.
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
use crate::error::{ModelError, Result};

/// Time: dimension 1 of `(N, L, C)`.
const TIME: usize = 1;

/// `a` followed by `b` along time; `a` may be absent.
fn append(a: Option<Tensor>, b: &Tensor) -> Result<Tensor> {
    Ok(match a {
        Some(a) => Tensor::cat(&[&a, b], TIME)?,
        None => b.clone(),
    })
}

/// Times `from..` of `x`, or `None` if there are none.
fn rows_from(x: &Tensor, from: usize) -> Result<Option<Tensor>> {
    let len = x.dim(TIME)?;
    Ok((from < len)
        .then(|| x.narrow(TIME, from, len - from))
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
    /// Takes the next input `(N, n, in)`, returns the outputs now final `(N, m, out)`.
    fn step(&mut self, conv: &WeightNormConv1d, x: &Tensor) -> Result<Option<Tensor>> {
        let mut padded = append(self.pending.take(), x)?;
        if !self.started {
            let pad = conv.spec.padding_total();
            if padded.dim(TIME)? <= pad {
                self.pending = Some(padded);
                return Ok(None);
            }
            padded = reflect_pad(&padded, TIME, pad, 0)?;
            self.started = true;
        }
        let (len, span, stride) = (
            padded.dim(TIME)?,
            conv.spec.effective_kernel(),
            conv.spec.stride,
        );
        if len < span {
            self.pending = Some(padded);
            return Ok(None);
        }
        let outputs = (len - span) / stride + 1;
        let used = padded.narrow(TIME, 0, (outputs - 1) * stride + span)?;
        let y = conv.convolve_channels(&used)?;
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
        let done = y.dim(TIME)?;
        // 1x1 convs: no padding, so the convolution is the whole layer.
        let y = block.conv_1.convolve_channels(&elu(&y)?)?;
        let input = waiting.narrow(TIME, 0, done)?;
        let skip = match &block.shortcut {
            Some(conv) => conv.convolve_channels(&input)?,
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
    /// Per channel, the samples not yet a whole frame.
    samples: Vec<Vec<f32>>,
    input: ConvTail,
    stages: Vec<StageTail>,
    /// Per channel.
    lstm: Vec<LstmState>,
    output: ConvTail,
    /// The samples of the whole frames of a push, channel-major.
    frames: Vec<f32>,
}

impl EncoderStream {
    /// A stream of `channels` signals.
    pub fn new(model: Arc<Encodec>, channels: usize) -> Self {
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
            lstm: vec![encoder.lstm.initial_state(); channels],
            samples: vec![Vec::with_capacity(2 * hop); channels],
            input: ConvTail::default(),
            stages,
            output: ConvTail::default(),
            frames: Vec::new(),
            model,
        }
    }

    pub fn hop(&self) -> usize {
        self.model.config().hop_length()
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.samples.len()
    }

    /// Feeds the next samples of every channel, at the model's rate (as many for each channel,
    /// finite; check with [`super::check_audio`] first) and returns the latent frames that
    /// became final, `(channels, frames, D)`, or `None`.
    pub fn push(&mut self, audio: &[&[f32]]) -> Result<Option<Tensor>> {
        if audio.len() != self.channels() || audio.iter().any(|a| a.len() != audio[0].len()) {
            return Err(ModelError::Input(format!(
                "{} channels of audio, of different lengths, for a stream of {} channels",
                audio.len(),
                self.channels()
            )));
        }
        let hop = self.hop();
        self.frames.clear();
        for (samples, audio) in self.samples.iter_mut().zip(audio) {
            samples.extend_from_slice(audio);
            let whole = samples.len() / hop * hop;
            self.frames.extend(samples.drain(..whole));
        }
        let whole = self.frames.len() / self.channels();
        if whole == 0 {
            return Ok(None);
        }
        let shape = (self.channels(), whole, 1);
        let x = Tensor::from_slice(&self.frames, shape, &Device::Cpu)?;
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
        let y = encoder.lstm.forward_channels(&x, &mut self.lstm)?;
        self.output.step(&encoder.output_conv, &elu(&y)?)
    }

    /// Back to the stream start, without allocating.
    pub fn reset(&mut self) {
        self.samples.iter_mut().for_each(Vec::clear);
        self.input = ConvTail::default();
        for stage in &mut self.stages {
            stage
                .blocks
                .iter_mut()
                .for_each(|b| *b = ResidualTail::default());
            stage.down = ConvTail::default();
        }
        for lstm in &mut self.lstm {
            lstm.h
                .iter_mut()
                .chain(&mut lstm.c)
                .for_each(|v| v.fill(0.0));
        }
        self.output = ConvTail::default();
    }
}

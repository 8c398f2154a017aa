//! Streaming form of the EnCodec encoder: audio in any chunk sizes, latent frames out as soon
//! as they are final, equal to the offline encoder's frames.
//!
//! One stream runs several channels (independent signals, e.g. left and right) in step: every
//! signal here is a [`Rows`] `(N, L, C)`, channel-major, and each layer is one matrix product
//! over all channels' rows, so the weights are read once per step whatever the channel count.
//! Signals are plain buffers: a step copies each layer's input once (into its tail).
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
use super::activation::{elu_in_place, elu_slice};
use super::conv::WeightNormConv1d;
use super::lstm::LstmState;
use super::seanet::ResidualBlock;
use crate::error::{ModelError, Result};

/// Rows of `width` values of several channels in step, channel-major: channel `n`'s `len`
/// rows, then channel `n + 1`'s.
#[derive(Clone, Default)]
struct Rows {
    data: Vec<f32>,
    channels: usize,
    len: usize,
    width: usize,
}

impl Rows {
    fn new(data: Vec<f32>, channels: usize, width: usize) -> Self {
        let len = data.len() / (channels * width);
        Self {
            data,
            channels,
            len,
            width,
        }
    }

    /// Rows `range` of channel `n`.
    fn rows(&self, n: usize, range: std::ops::Range<usize>) -> &[f32] {
        let start = n * self.len + range.start;
        &self.data[start * self.width..(start + range.len()) * self.width]
    }

    /// Appends `other`'s rows (same channels and width) after each channel's own.
    fn append(&mut self, other: &Rows) {
        if self.len == 0 {
            *self = other.clone();
            return;
        }
        let mut data = Vec::with_capacity(self.data.len() + other.data.len());
        for n in 0..self.channels {
            data.extend_from_slice(self.rows(n, 0..self.len));
            data.extend_from_slice(other.rows(n, 0..other.len));
        }
        *self = Rows::new(data, self.channels, self.width);
    }

    /// Keeps each channel's rows `from..`.
    fn drop_front(&mut self, from: usize) {
        let data = (0..self.channels)
            .flat_map(|n| self.rows(n, from.min(self.len)..self.len).iter().copied())
            .collect();
        *self = Rows::new(data, self.channels, self.width);
    }

    /// Each channel preceded by the reflection of its rows `1..=pad` (encodec
    /// `pad1d(mode='reflect')` on the left; needs `len > pad`).
    fn reflect_left(&self, pad: usize) -> Rows {
        let mut data = Vec::with_capacity(self.data.len() + self.channels * pad * self.width);
        for n in 0..self.channels {
            for r in (1..=pad).rev() {
                data.extend_from_slice(self.rows(n, r..r + 1));
            }
            data.extend_from_slice(self.rows(n, 0..self.len));
        }
        Rows::new(data, self.channels, self.width)
    }
}

/// The streaming state of one causal conv.
#[derive(Default)]
struct ConvTail {
    /// Whether the stream-start reflection has been built.
    started: bool,
    /// Input not consumed yet: before the start the raw rows, after it the padded input from
    /// the first window still to compute.
    pending: Rows,
}

impl ConvTail {
    /// Takes the next input `(N, n, in)`, returns the outputs now final `(N, m, out)`.
    fn step(&mut self, conv: &WeightNormConv1d, x: &Rows) -> Option<Rows> {
        self.pending.append(x);
        if !self.started {
            let pad = conv.spec.padding_total();
            if self.pending.len <= pad {
                return None;
            }
            self.pending = self.pending.reflect_left(pad);
            self.started = true;
        }
        if self.pending.len < conv.spec.effective_kernel() {
            return None;
        }
        let outputs = conv.outputs(self.pending.len);
        let pending = &self.pending;
        let y = conv.convolve_channels(&pending.data, pending.channels, pending.len);
        let channels = pending.channels;
        self.pending.drop_front(outputs * conv.spec.stride);
        Some(Rows::new(y, channels, conv.spec.out_channels))
    }
}

/// The streaming state of a residual block: its k-tap conv's tail, and the block inputs whose
/// branch output is not final yet (the shortcut is added to it row by row).
#[derive(Default)]
struct ResidualTail {
    conv_k: ConvTail,
    waiting: Rows,
}

impl ResidualTail {
    fn step(&mut self, block: &ResidualBlock, x: &Rows) -> Option<Rows> {
        self.waiting.append(x);
        let activated = Rows::new(elu_slice(&x.data), x.channels, x.width);
        let mut y = self.conv_k.step(&block.conv_k, &activated)?;
        let done = y.len;
        elu_in_place(&mut y.data);
        // 1x1 convs: no padding, so the convolution is the whole layer.
        let mut y = block.conv_1.convolve_channels(&y.data, y.channels, done);
        let input: Vec<f32> = (0..x.channels)
            .flat_map(|n| self.waiting.rows(n, 0..done).iter().copied())
            .collect();
        match &block.shortcut {
            Some(conv) => {
                let skip = conv.convolve_channels(&input, x.channels, done);
                y.iter_mut().zip(skip).for_each(|(y, s)| *y += s);
            }
            None => y.iter_mut().zip(input).for_each(|(y, s)| *y += s),
        }
        self.waiting.drop_front(done);
        Some(Rows::new(y, x.channels, x.width))
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
        let channels = self.channels();
        if audio.len() != channels || audio.iter().any(|a| a.len() != audio[0].len()) {
            return Err(ModelError::Input(format!(
                "{} channels of audio, of different lengths, for a stream of {channels} channels",
                audio.len(),
            )));
        }
        let hop = self.hop();
        let mut frames = Vec::new();
        for (samples, audio) in self.samples.iter_mut().zip(audio) {
            samples.extend_from_slice(audio);
            let whole = samples.len() / hop * hop;
            frames.extend(samples.drain(..whole));
        }
        if frames.is_empty() {
            return Ok(None);
        }
        let x = Rows::new(frames, channels, 1);
        let encoder = self.model.encoder();
        let Some(mut x) = self.input.step(&encoder.input_conv, &x) else {
            return Ok(None);
        };
        for (stage, tail) in encoder.stages.iter().zip(&mut self.stages) {
            for (block, block_tail) in stage.blocks.iter().zip(&mut tail.blocks) {
                match block_tail.step(block, &x) {
                    Some(y) => x = y,
                    None => return Ok(None),
                }
            }
            elu_in_place(&mut x.data);
            match tail.down.step(&stage.down, &x) {
                Some(y) => x = y,
                None => return Ok(None),
            }
        }
        let mut y = encoder
            .lstm
            .forward_channels(&x.data, x.len, &mut self.lstm)?;
        elu_in_place(&mut y);
        let y = Rows::new(y, channels, x.width);
        let Some(latent) = self.output.step(&encoder.output_conv, &y) else {
            return Ok(None);
        };
        let shape = (channels, latent.len, latent.width);
        Ok(Some(Tensor::from_vec(latent.data, shape, &Device::Cpu)?))
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

//! The whole streaming EnCodec variant: 24 kHz audio -> EnCodec encoder -> RVQ at a bandwidth
//! chosen per frame -> Vocos -> audio, equal to the offline `Vocos.forward(audio, bandwidth_id)`
//! delayed by exactly [`LATENCY`] samples.
//!
//! Timing: encoder frame `f` is final once input sample `320 f + 319` has arrived; Vocos output
//! sample `n` needs backbone frames up to `floor((n + 480) / 320)` (the ISTFT head) and those
//! need 27 frames of lookahead, so `n` is final once encoder frame `floor((n + 480) / 320) + 27`
//! is. After `T` input samples (a multiple of 320) the samples `n < T - 9120` are final: the
//! stream emits `T` samples, the first 9120 silent, then the offline output. Pushing a partial
//! frame emits nothing for it until the frame completes, so any chunking gives the same stream.
//!
//! A stream carries one or more channels in step (the same bandwidth for all): each of them
//! equals its own mono stream, and every layer reads its weights once for all of them.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::encodec::{Encodec, EncoderStream};
use crate::error::{ModelError, Result};
use crate::streaming::{Rows, StreamingModule};
use crate::vocos::{Frontend, Vocos, VocosStream};

/// Input-to-output delay in samples at 24 kHz for frame-aligned input: 28.5 frames, the
/// algorithmic minimum of the released models: the causal encoder finishes frame t with input
/// sample 320t + 319, the Vocos backbone (embedding and eight depthwise convolutions of
/// kernel 7) looks 27 frames ahead, and the 'same' ISTFT head's frame t covers output samples
/// 320t - 480 .. 320t + 800, so output sample n waits for input sample
/// 320 (floor((n + 480) / 320) + 28) - 1, 9120 to 9439 samples after it depending on its place
/// in the frame.
pub const LATENCY: usize = 9120;

pub struct CodecStream {
    encodec: Arc<Encodec>,
    vocos: Arc<Vocos>,
    encoder: EncoderStream,
    decoder: VocosStream,
    channels: usize,
    /// Bandwidth id given to frames pushed from now on.
    bandwidth_id: usize,
    /// Bandwidth ids of input frames whose encoder frame is not out yet, oldest first.
    frame_ids: VecDeque<usize>,
    /// Whole input frames pushed since the stream start.
    frames_in: usize,
    /// Silent samples emitted so far.
    silence: usize,
    /// Samples of the current partial input frame.
    partial: usize,
    /// Codebook counts and ids of every encoded row (frame of a channel), channel-major.
    row_counts: Vec<usize>,
    features: Vec<f32>,
    codebook_counts: Vec<usize>,
    ids: Vec<usize>,
}

impl CodecStream {
    /// A stream of `channels` signals; `bandwidth_id` indexes the Vocos model's bandwidths (0..4
    /// for 1.5 / 3 / 6 / 12 kbps).
    pub fn new(
        encodec: Arc<Encodec>,
        vocos: Arc<Vocos>,
        bandwidth_id: usize,
        channels: usize,
    ) -> Result<Self> {
        if !matches!(vocos.frontend, Frontend::Encodec { .. }) {
            return Err(ModelError::Input(
                "the codec stream needs the EnCodec variant of Vocos".into(),
            ));
        }
        vocos.codebooks_for_id(bandwidth_id)?;
        if encodec.config().hop_length() != vocos.hop_length() {
            return Err(ModelError::Input(format!(
                "EnCodec hop {} differs from Vocos hop {}",
                encodec.config().hop_length(),
                vocos.hop_length()
            )));
        }
        Ok(Self {
            encoder: EncoderStream::new(encodec.encoder(), channels),
            channels,
            decoder: VocosStream::new(&vocos, channels)?,
            encodec,
            vocos,
            bandwidth_id,
            frame_ids: VecDeque::new(),
            frames_in: 0,
            silence: 0,
            partial: 0,
            row_counts: Vec::new(),
            features: Vec::new(),
            codebook_counts: Vec::new(),
            ids: Vec::new(),
        })
    }

    pub fn hop(&self) -> usize {
        self.vocos.hop_length()
    }

    /// Selects the bandwidth of the frames whose first sample is pushed from now on.
    pub fn set_bandwidth(&mut self, bandwidth_id: usize) -> Result<()> {
        self.vocos.codebooks_for_id(bandwidth_id)?;
        self.bandwidth_id = bandwidth_id;
        Ok(())
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Feeds the next finite 24 kHz samples of every channel (as many for each); appends the
    /// output samples that became final to `out[channel]`.
    pub fn push(&mut self, audio: &[&[f32]], out: &mut [Vec<f32>]) -> Result<()> {
        let channels = self.channels();
        let len = crate::error::check_channels(audio, out.len(), channels)?;
        let hop = self.hop();
        // Bandwidth ids of the frames this push starts.
        let mut pos = self.partial;
        for _ in 0..len {
            if pos == 0 {
                self.frame_ids.push_back(self.bandwidth_id);
            }
            pos = (pos + 1) % hop;
        }
        let completed = (self.partial + len) / hop;
        self.partial = (self.partial + len) % hop;
        self.frames_in += completed;

        // The silent start: one sample per input sample until the latency is covered.
        let silence = (self.frames_in * hop).min(LATENCY) - self.silence;
        for out in out.iter_mut() {
            out.extend(std::iter::repeat_n(0.0, silence));
        }
        self.silence += silence;

        let input = Rows::new(audio.concat(), channels, 1, Vec::new());
        let mut latent = Rows::default();
        self.encoder.step(&input, &mut latent)?;
        if latent.is_empty() {
            return Ok(());
        }
        let frames = latent.len();
        self.ids.clear();
        self.ids.extend(self.frame_ids.drain(..frames));
        self.codebook_counts.clear();
        for &id in &self.ids {
            self.codebook_counts.push(self.vocos.codebooks_for_id(id)?);
        }
        self.row_counts.clear();
        for _ in 0..channels {
            self.row_counts.extend_from_slice(&self.codebook_counts);
        }
        let codes = self
            .encodec
            .quantizer()
            .encode_frames(latent.data(), &self.row_counts)?;
        let Frontend::Encodec { codebooks, .. } = &self.vocos.frontend else {
            unreachable!("checked in new");
        };
        let dim = codebooks.dim;
        self.features.resize(channels * frames * dim, 0.0);
        for (frame, out) in codes.iter().zip(self.features.chunks_exact_mut(dim)) {
            codebooks.frame(frame.iter().copied(), out);
        }
        let features = Rows::new(
            std::mem::take(&mut self.features),
            channels,
            dim,
            self.ids.clone(),
        );
        let mut audio = Rows::default();
        self.decoder.step(&features, &mut audio)?;
        self.features = features.into_data();
        for (n, out) in out.iter_mut().enumerate() {
            out.extend_from_slice(audio.channel(n));
        }
        Ok(())
    }

    /// Back to the stream start (the bandwidth stays).
    pub fn reset(&mut self) {
        self.encoder.reset();
        self.decoder.reset();
        self.frame_ids.clear();
        self.frames_in = 0;
        self.silence = 0;
        self.partial = 0;
    }
}

/// The offline counterpart of a stream whose bandwidth changes between frames: the whole clip
/// encoded, frame `t` quantized with the codebooks of `bandwidth_ids[t]` and decoded with that
/// id's AdaLayerNorm row. `bandwidth_ids` holds one id per frame (`ceil(len / 320)`).
pub fn offline_with_frame_ids(
    encodec: &Encodec,
    vocos: &Vocos,
    audio: &[f32],
    bandwidth_ids: &[usize],
) -> Result<Vec<f32>> {
    let Frontend::Encodec { codebooks, .. } = &vocos.frontend else {
        return Err(ModelError::Input(
            "the EnCodec variant of Vocos is needed".into(),
        ));
    };
    let latent = encodec.latent(audio)?;
    let frames = latent.len() / encodec.config().hidden_size;
    let counts = bandwidth_ids
        .iter()
        .map(|&id| vocos.codebooks_for_id(id))
        .collect::<Result<Vec<_>>>()?;
    let codes = encodec.quantizer().encode_frames(&latent, &counts)?;
    let mut rows = vec![0f32; frames * codebooks.dim];
    for (frame, out) in codes.iter().zip(rows.chunks_exact_mut(codebooks.dim)) {
        codebooks.frame(frame.iter().copied(), out);
    }
    let features = Rows::new(rows, 1, codebooks.dim, bandwidth_ids.to_vec());
    let mut stream = VocosStream::new(vocos, 1)?;
    let mut out = Rows::default();
    stream.step(&features, &mut out)?;
    stream.flush(&mut out)?;
    Ok(out.take_data())
}

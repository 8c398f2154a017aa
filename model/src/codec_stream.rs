//! The whole streaming EnCodec variant: 24 kHz audio -> EnCodec encoder -> RVQ at a bandwidth
//! chosen per frame -> Vocos -> audio, equal to the offline `Vocos.forward(audio, bandwidth_id)`
//! delayed by exactly [`CodecStream::latency`] samples.
//!
//! Timing (released models, hop 320): encoder frame `f` is final once input sample
//! `320 f + 319` has arrived; Vocos output sample `n` needs backbone frames up to
//! `floor((n + 480) / 320)` (the ISTFT head) and those need 27 frames of lookahead, so `n` is
//! final once encoder frame `floor((n + 480) / 320) + 27` is. After `T` input samples (a
//! multiple of 320) the samples `n < T - 9120` are final: the stream emits `T` samples, the
//! first 9120 silent, then the offline output. Pushing a partial frame emits nothing for it
//! until the frame completes, so any chunking gives the same stream.
//!
//! A stream carries one or more channels in step (the same bandwidth for all): each of them
//! equals its own mono stream, and every layer reads its weights once for all of them.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::encodec::{Encodec, EncoderStream};
use crate::error::{ModelError, Result};
use crate::streaming::{
    OFFLINE_CHUNK_FRAMES, Rows, SilentStart, StreamingModule, audio_rows, check_channels, offline,
    pass,
};
use crate::vocos::{CodebookFeatures, Frontend, Vocos, VocosStream};

/// The quantizer step of the pipeline: each latent frame quantized with the codebooks of its
/// bandwidth id (EnCodec's RVQ), then embedded with Vocos' own copy of the codebooks (the sum
/// of the rows of its codes). Frame by frame, so it keeps no state.
pub struct Quantize {
    encodec: Arc<Encodec>,
    vocos: Arc<Vocos>,
}

impl Quantize {
    fn codebooks(&self) -> &CodebookFeatures {
        match &self.vocos.frontend {
            Frontend::Encodec { codebooks, .. } => codebooks,
            Frontend::Mel(_) => unreachable!("checked in CodecStream::new"),
        }
    }
}

impl StreamingModule for Quantize {
    fn step(&mut self, latent: &Rows, out: &mut Rows) -> Result<()> {
        if latent.is_empty() {
            return Ok(());
        }
        let counts = latent
            .ids()
            .iter()
            .map(|&id| self.vocos.codebooks_for_id(id))
            .collect::<Result<Vec<_>>>()?;
        let all_rows: Vec<usize> = (0..latent.channels())
            .flat_map(|_| counts.iter().copied())
            .collect();
        let codes = self
            .encodec
            .quantizer()
            .encode_frames(latent.data(), &all_rows)?;
        let codebooks = self.codebooks();
        let mut features = vec![0f32; codes.len() * codebooks.dim];
        for (frame, out) in codes.iter().zip(features.chunks_exact_mut(codebooks.dim)) {
            codebooks.frame(frame.iter().copied(), out);
        }
        out.append(&Rows::new(
            features,
            latent.channels(),
            codebooks.dim,
            latent.ids().to_vec(),
        ));
        Ok(())
    }

    fn flush(&mut self, _out: &mut Rows) -> Result<()> {
        Ok(())
    }

    fn reset(&mut self) {}
}

pub struct CodecStream {
    encoder: EncoderStream,
    quantize: Quantize,
    decoder: VocosStream,
    channels: usize,
    hop: usize,
    /// Bandwidth id given to frames pushed from now on.
    bandwidth_id: usize,
    /// Bandwidth ids of input frames whose encoder frame is not out yet, oldest first.
    frame_ids: VecDeque<usize>,
    /// Input samples since the stream start.
    samples_in: usize,
    start: SilentStart,
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
            return Err(ModelError::Variant { needed: "EnCodec" });
        }
        vocos.codebooks_for_id(bandwidth_id)?;
        let hop = vocos.config.hop();
        if encodec.config().hop_length() != hop {
            return Err(ModelError::HopMismatch {
                encodec: encodec.config().hop_length(),
                vocos: hop,
            });
        }
        Ok(Self {
            encoder: EncoderStream::new(encodec.encoder(), channels),
            decoder: VocosStream::new(&vocos, channels)?,
            start: SilentStart::new(vocos.config.stream_latency()),
            quantize: Quantize { encodec, vocos },
            channels,
            hop,
            bandwidth_id,
            frame_ids: VecDeque::new(),
            samples_in: 0,
        })
    }

    /// Samples per frame: the stream's unit of timing (bandwidth changes land on frames).
    pub fn hop(&self) -> usize {
        self.hop
    }

    /// Input-to-output delay in samples for input pushed in whole frames (9120 for the
    /// released models; see [`crate::vocos::VocosConfig::stream_latency`]).
    pub fn latency(&self) -> usize {
        self.start.latency()
    }

    /// Selects the bandwidth of the frames whose first sample is pushed from now on.
    pub fn set_bandwidth(&mut self, bandwidth_id: usize) -> Result<()> {
        self.quantize.vocos.codebooks_for_id(bandwidth_id)?;
        self.bandwidth_id = bandwidth_id;
        Ok(())
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Feeds the next finite 24 kHz samples of every channel (as many for each); appends the
    /// output samples that became final to `out[channel]`.
    pub fn push(&mut self, audio: &[&[f32]], out: &mut [Vec<f32>]) -> Result<()> {
        let len = check_channels(audio, out.len(), self.channels)?;
        // Bandwidth ids of the frames this push starts.
        let first_new_frame = self.samples_in.div_ceil(self.hop);
        self.samples_in += len;
        let started = self.samples_in.div_ceil(self.hop) - first_new_frame;
        self.frame_ids
            .extend(std::iter::repeat_n(self.bandwidth_id, started));
        self.start.emit(self.samples_in / self.hop * self.hop, out);

        let mut latent = pass(&mut self.encoder, &audio_rows(audio), false)?;
        if latent.is_empty() {
            return Ok(());
        }
        let ids: Vec<usize> = self.frame_ids.drain(..latent.len()).collect();
        latent.set_ids(ids);
        let features = pass(&mut self.quantize, &latent, false)?;
        let audio = pass(&mut self.decoder, &features, false)?;
        audio.extend_channels(out);
        Ok(())
    }

    /// Back to the stream start (the bandwidth stays).
    pub fn reset(&mut self) {
        self.encoder.reset();
        self.decoder.reset();
        self.frame_ids.clear();
        self.samples_in = 0;
        self.start.reset();
    }
}

/// The offline counterpart of a stream whose bandwidth changes between frames: the whole clip
/// encoded, frame `t` quantized with the codebooks of `bandwidth_ids[t]` and decoded with that
/// id's AdaLayerNorm row. `bandwidth_ids` holds one id per frame (`ceil(len / 320)`).
pub fn offline_with_frame_ids(
    encodec: &Arc<Encodec>,
    vocos: &Arc<Vocos>,
    audio: &[f32],
    bandwidth_ids: &[usize],
) -> Result<Vec<f32>> {
    let mut stream = CodecStream::new(encodec.clone(), vocos.clone(), 0, 1)?;
    let mut latent = Rows::new(
        encodec.latent(audio)?,
        1,
        encodec.config().hidden_size,
        Vec::new(),
    );
    if latent.len() != bandwidth_ids.len() {
        return Err(ModelError::FrameCount {
            given: bandwidth_ids.len(),
            frames: latent.len(),
        });
    }
    latent.set_ids(bandwidth_ids.to_vec());
    let features = offline(&mut stream.quantize, &latent, OFFLINE_CHUNK_FRAMES)?;
    let audio = offline(&mut stream.decoder, &features, OFFLINE_CHUNK_FRAMES)?;
    Ok(audio.into_data())
}

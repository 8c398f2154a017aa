//! The whole streaming mel variant: 24 kHz audio -> log-mel (centred STFT) -> Vocos -> audio,
//! equal to the offline `Vocos.forward(audio)` delayed by exactly [`MEL_LATENCY`] samples.
//!
//! Timing: mel frame `g` is final once input sample `256 g + 511` has arrived (frame 0 also
//! needs sample 512 for the reflect padding); output sample `n` needs mel frames up to
//! `floor((n + 512) / 256) + 27`. After `T` input samples (a multiple of 256) the samples
//! `n < T - 7680` are final: the stream emits `T` samples, the first 7680 silent, then the
//! offline output. Any chunking gives the same stream.

use std::sync::Arc;

use vocos_dsp::log_mel_stream::LogMelStream;

use crate::error::{ModelError, Result};
use crate::streaming::{Rows, StreamingModule};
use crate::vocos::{Frontend, Vocos, VocosStream};

/// Input-to-output delay in samples at 24 kHz for hop-aligned input: 30 hops, the algorithmic
/// minimum of the released mel model: the centred mel frame t needs input up to sample
/// 256t + 511, the backbone looks 27 frames ahead, and the centred ISTFT head's frame t covers
/// output samples 256t - 512 .. 256t + 512, so output sample n waits for input sample
/// 256 (floor(n / 256) + 29) + 511, 7680 to 7935 samples after it depending on its place in
/// the hop.
pub const MEL_LATENCY: usize = 7680;

/// One or more channels in step, each equal to its own mono stream; the decoder reads its
/// weights once for all of them.
pub struct MelStream {
    /// Per channel.
    analysis: Vec<LogMelStream>,
    decoder: VocosStream,
    hop: usize,
    /// Values per feature frame.
    n_mels: usize,
    /// Input samples since the stream start.
    samples_in: usize,
    /// Silent samples emitted so far.
    silence: usize,
    features: Vec<f32>,
    /// One channel's features of a push.
    channel_features: Vec<f32>,
}

impl MelStream {
    /// A stream of `channels` signals.
    pub fn new(vocos: Arc<Vocos>, channels: usize) -> Result<Self> {
        let Frontend::Mel(mel) = &vocos.frontend else {
            return Err(ModelError::Input(
                "the mel stream needs the mel variant of Vocos".into(),
            ));
        };
        Ok(Self {
            analysis: (0..channels)
                .map(|_| Ok(LogMelStream::new(mel.analyser()?)))
                .collect::<Result<_>>()?,
            hop: vocos.hop_length(),
            n_mels: mel.config.n_mels,
            decoder: VocosStream::new(&vocos, channels)?,
            samples_in: 0,
            silence: 0,
            features: Vec::new(),
            channel_features: Vec::new(),
        })
    }

    pub fn hop(&self) -> usize {
        self.hop
    }

    pub fn channels(&self) -> usize {
        self.analysis.len()
    }

    /// Feeds the next finite 24 kHz samples of every channel (as many for each); appends the
    /// output samples that became final to `out[channel]`.
    pub fn push(&mut self, audio: &[&[f32]], out: &mut [Vec<f32>]) -> Result<()> {
        let channels = self.channels();
        let len = crate::error::check_channels(audio, out.len(), channels)?;
        self.samples_in += len;
        let whole = self.samples_in / self.hop * self.hop;
        let silence = whole.min(MEL_LATENCY) - self.silence;
        for out in out.iter_mut() {
            out.extend(std::iter::repeat_n(0.0, silence));
        }
        self.silence += silence;
        self.features.clear();
        for (analysis, audio) in self.analysis.iter_mut().zip(audio) {
            self.channel_features.clear();
            analysis.push(audio, &mut self.channel_features);
            self.features.extend_from_slice(&self.channel_features);
        }
        if self.features.is_empty() {
            return Ok(());
        }
        let features = Rows::new(
            std::mem::take(&mut self.features),
            channels,
            self.n_mels,
            Vec::new(),
        );
        let mut audio = Rows::default();
        self.decoder.step(&features, &mut audio)?;
        self.features = features.into_data();
        for (n, out) in out.iter_mut().enumerate() {
            out.extend_from_slice(audio.channel(n));
        }
        Ok(())
    }

    /// Back to the stream start.
    pub fn reset(&mut self) {
        self.analysis.iter_mut().for_each(LogMelStream::reset);
        self.decoder.reset();
        self.samples_in = 0;
        self.silence = 0;
    }
}

//! The whole streaming mel variant: 24 kHz audio -> log-mel (centred STFT) -> Vocos -> audio,
//! equal to the offline `Vocos.forward(audio)` delayed by exactly [`MelStream::latency`]
//! samples.
//!
//! Timing (released model: hop 256, n_fft 1024): mel frame `g` is final once input sample
//! `256 g + 511` has arrived (frame 0 also needs sample 512 for the reflect padding); output
//! sample `n` needs mel frames up to `floor((n + 512) / 256) + 27`. After `T` input samples (a
//! multiple of the hop) the samples `n < T - latency` are final: the stream emits `T` samples,
//! the first `latency` silent, then the offline output. Any chunking gives the same stream.

use crate::error::{ModelError, Result};
use crate::streaming::{SilentStart, StreamingModule, audio_rows, check_channels, pass};
use crate::vocos::{Frontend, MelFrontStream, Vocos, VocosStream};

/// One or more channels in step, each equal to its own mono stream; the decoder reads its
/// weights once for all of them.
pub struct MelStream {
    front: MelFrontStream,
    decoder: VocosStream,
    channels: usize,
    hop: usize,
    /// Input samples since the stream start.
    samples_in: usize,
    start: SilentStart,
}

impl MelStream {
    /// A stream of `channels` signals.
    pub fn new(vocos: &Vocos, channels: usize) -> Result<Self> {
        let Frontend::Mel(mel) = &vocos.frontend else {
            return Err(ModelError::Variant { needed: "mel" });
        };
        Ok(Self {
            front: MelFrontStream::new(mel, channels)?,
            decoder: VocosStream::new(vocos, channels)?,
            channels,
            hop: vocos.config.hop(),
            samples_in: 0,
            start: SilentStart::new(vocos.config.stream_latency()),
        })
    }

    /// Samples per feature frame: the stream's unit of timing.
    pub fn hop(&self) -> usize {
        self.hop
    }

    /// Input-to-output delay in samples for input pushed in whole hops (7680 for the released
    /// model; see [`crate::vocos::VocosConfig::stream_latency`]).
    pub fn latency(&self) -> usize {
        self.start.latency()
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Feeds the next finite 24 kHz samples of every channel (as many for each); appends the
    /// output samples that became final to `out[channel]`.
    pub fn push(&mut self, audio: &[&[f32]], out: &mut [Vec<f32>]) -> Result<()> {
        let len = check_channels(audio, out.len(), self.channels)?;
        self.samples_in += len;
        self.start.emit(self.samples_in / self.hop * self.hop, out);
        let mel = pass(&mut self.front, &audio_rows(audio), false)?;
        let audio = pass(&mut self.decoder, &mel, false)?;
        audio.extend_channels(out);
        Ok(())
    }

    /// Back to the stream start.
    pub fn reset(&mut self) {
        self.front.reset();
        self.decoder.reset();
        self.samples_in = 0;
        self.start.reset();
    }
}

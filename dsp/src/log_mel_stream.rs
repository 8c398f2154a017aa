//! Log-mel analysis of a signal arriving in chunks of any size: [`LogMel`] frames of a centred
//! STFT with reflect padding (torch `stft(center=True, pad_mode='reflect')`). The offline
//! features of a clip are the clip pushed, then [`LogMelStream::finish`]ed.
//!
//! Frame `t` covers padded samples `[t * hop, t * hop + n_fft)`, i.e. signal samples
//! `t * hop - n_fft / 2 ..`; the reflect padding at the start repeats samples `1..=n_fft / 2`.
//! So frame `t` is final once signal sample `t * hop + n_fft / 2 - 1` has arrived, except frame
//! 0, which also needs sample `n_fft / 2` for the reflection. The finish adds the end padding
//! (the reflection of the last samples), giving `1 + N / hop` frames in all.

use crate::mel::LogMel;
use crate::stft::StftError;

pub struct LogMelStream {
    analysis: LogMel,
    /// Padded signal from the first sample of the next frame on.
    padded: Vec<f32>,
    /// Whether the start reflection has been built (it needs `n_fft / 2 + 1` samples).
    started: bool,
}

impl LogMelStream {
    pub fn new(analysis: LogMel) -> Self {
        let capacity = 2 * analysis.n_fft();
        Self {
            analysis,
            padded: Vec::with_capacity(capacity),
            started: false,
        }
    }

    /// Takes the next samples; appends the log-mel frames now final to `out` (`n_mels` values
    /// each, frame-major).
    pub fn push(&mut self, signal: &[f32], out: &mut Vec<f32>) {
        let pad = self.analysis.n_fft() / 2;
        self.padded.extend_from_slice(signal);
        if !self.started {
            if self.padded.len() <= pad {
                return;
            }
            let reflection: Vec<f32> = (1..=pad).rev().map(|i| self.padded[i]).collect();
            self.padded.splice(0..0, reflection);
            self.started = true;
        }
        self.emit_frames(out);
    }

    /// Ends the signal: the reflection of its last `n_fft / 2` samples after it, and the frames
    /// that completes. A signal not longer than `n_fft / 2` cannot be reflected (as offline).
    /// Call [`Self::reset`] before pushing again.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), StftError> {
        let pad = self.analysis.n_fft() / 2;
        if !self.started {
            return match self.padded.len() {
                0 => Ok(()),
                len => Err(StftError::TooShort { len, pad }),
            };
        }
        // The kept samples reach back at least `n_fft - hop >= pad + 1` samples, all of the
        // signal (the left reflection is consumed by then or the signal is longer than `pad`).
        let end = self.padded.len();
        for i in 0..pad {
            let v = self.padded[end - 2 - i];
            self.padded.push(v);
        }
        self.emit_frames(out);
        Ok(())
    }

    /// Appends every frame whose window is complete and drops the samples no later frame needs.
    fn emit_frames(&mut self, out: &mut Vec<f32>) {
        let (n_fft, hop, n_mels) = (
            self.analysis.n_fft(),
            self.analysis.hop(),
            self.analysis.n_mels(),
        );
        let mut start = 0;
        while start + n_fft <= self.padded.len() {
            let first = out.len();
            out.resize(first + n_mels, 0.0);
            self.analysis
                .frame(&self.padded[start..start + n_fft], &mut out[first..]);
            start += hop;
        }
        self.padded.drain(..start);
    }

    /// Back to the stream start.
    pub fn reset(&mut self) {
        self.padded.clear();
        self.started = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mel::htk_filterbank;
    use crate::window::hann_periodic;

    fn analysis() -> LogMel {
        let (n_fft, hop, n_mels) = (1024, 256, 100);
        let bank = htk_filterbank(n_fft / 2 + 1, 0.0, 12_000.0, n_mels, 24_000.0);
        LogMel::new(n_fft, hop, hann_periodic(n_fft), bank, n_mels).unwrap()
    }

    #[test]
    fn equals_the_centred_definition_for_any_chunking() {
        let signal: Vec<f32> = (0..9000)
            .map(|n| (n as f32 * 0.05).sin() * 0.5 + ((n * 7919) % 97) as f32 * 1e-3)
            .collect();
        // The definition: frame t is the window at t * hop of the reflect-padded signal.
        let mut reference = analysis();
        let padded = crate::stft::CenteredStft::new(1024, 256, hann_periodic(1024))
            .unwrap()
            .pad(&signal)
            .unwrap();
        let frames = 1 + signal.len() / 256;
        let mut offline = vec![0f32; frames * 100];
        for (t, row) in offline.chunks_exact_mut(100).enumerate() {
            reference.frame(&padded[t * 256..t * 256 + 1024], row);
        }
        let mut stream = LogMelStream::new(analysis());
        for chunk in [1, 7, 256, 333, 4096] {
            stream.reset();
            let mut out = Vec::new();
            for piece in signal.chunks(chunk) {
                stream.push(piece, &mut out);
            }
            // Frames whose window ends inside the signal: (9000 - 512) / 256 + 1 = 34.
            assert_eq!(out.len(), 34 * 100, "chunk {chunk}");
            assert_eq!(out[..], offline[..out.len()], "chunk {chunk}");
            stream.finish(&mut out).unwrap();
            assert_eq!(out, offline, "chunk {chunk} finished");
        }
    }

    #[test]
    fn frame_zero_waits_for_the_sample_its_reflection_needs() {
        let mut stream = LogMelStream::new(analysis());
        let mut out = Vec::new();
        stream.push(&[0.1; 512], &mut out);
        assert!(out.is_empty());
        stream.push(&[0.2], &mut out);
        assert_eq!(out.len(), 100);
    }
}

//! Inverse STFT overlap-add, one frame at a time: each output sample is emitted as soon as no
//! later frame reaches it, divided by the exact window-square envelope (partial at both ends).
//! [`StreamingOverlapAdd::finish`] ends the signal: the offline inverse STFT of a clip is its
//! frames pushed, then finished.
//!
//! Frame `t` covers untrimmed samples `[t * hop, t * hop + n_fft)`. After frame `t` the
//! untrimmed samples below `(t + 1) * hop` are final, so output (trimmed) samples
//! `n < (t + 1) * hop - trim` are emitted, where `trim` is [`crate::istft::trim`] (480 for the
//! EnCodec variant's `same` padding, 512 for the mel variant's `center`). After the last frame
//! `T - 1`, the finish emits the rest up to the end trim: `(T - 1) * hop + n_fft - 2 * trim`
//! samples in all (`T * hop` for `same`, `(T - 1) * hop` for `center`).

use crate::istft::{IstftError, IstftPadding, trim};

pub struct StreamingOverlapAdd {
    window_sq: Vec<f32>,
    hop: usize,
    trim: usize,
    /// Overlap-added frames at untrimmed positions `position..position + n_fft`.
    sum: Vec<f32>,
    /// The window-square envelope at the same positions.
    envelope: Vec<f32>,
    /// Untrimmed position of `sum[0]`.
    position: usize,
}

impl StreamingOverlapAdd {
    pub fn new(window: &[f32], hop: usize, padding: IstftPadding) -> Result<Self, IstftError> {
        let n_fft = window.len();
        if hop == 0 || hop > n_fft {
            return Err(IstftError::Hop { hop, n_fft });
        }
        Ok(Self {
            window_sq: window.iter().map(|w| w * w).collect(),
            hop,
            trim: trim(padding, n_fft, hop),
            sum: vec![0.0; n_fft],
            envelope: vec![0.0; n_fft],
            position: 0,
        })
    }

    /// Samples trimmed at the stream start.
    pub fn trim(&self) -> usize {
        self.trim
    }

    /// Adds the next windowed frame (`n_fft` samples from a
    /// [`crate::istft::FrameSynthesizer`]) and appends the samples now final to `out`.
    pub fn push(&mut self, frame: &[f32], out: &mut Vec<f32>) -> Result<(), IstftError> {
        let n_fft = self.sum.len();
        if frame.len() != n_fft {
            return Err(IstftError::WindowLength {
                window: frame.len(),
                n_fft,
            });
        }
        for ((s, e), (&x, &w2)) in self
            .sum
            .iter_mut()
            .zip(&mut self.envelope)
            .zip(frame.iter().zip(&self.window_sq))
        {
            *s += x;
            *e += w2;
        }
        self.emit(self.hop, out)?;
        for buffer in [&mut self.sum, &mut self.envelope] {
            buffer.copy_within(self.hop.., 0);
            buffer[n_fft - self.hop..].fill(0.0);
        }
        self.position += self.hop;
        Ok(())
    }

    /// Ends the signal after the last frame pushed: appends the samples up to the end trim.
    /// Call [`Self::reset`] before pushing again.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), IstftError> {
        if self.position == 0 {
            return Ok(());
        }
        let rest = (self.sum.len() - self.hop).saturating_sub(self.trim);
        self.emit(rest, out)
    }

    /// Appends the first `count` buffered samples (those past the start trim) to `out`.
    fn emit(&self, count: usize, out: &mut Vec<f32>) -> Result<(), IstftError> {
        for i in 0..count {
            let n = self.position + i;
            if n < self.trim {
                continue;
            }
            let envelope = self.envelope[i];
            if envelope <= 1e-11 {
                return Err(IstftError::Envelope {
                    sample: n - self.trim,
                });
            }
            out.push(self.sum[i] / envelope);
        }
        Ok(())
    }

    /// Back to the stream start, without allocating.
    pub fn reset(&mut self) {
        self.sum.fill(0.0);
        self.envelope.fill(0.0);
        self.position = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::hann_periodic;

    /// The definition, on the whole clip at once: frames summed at their offsets, divided by the
    /// summed squared window, both ends trimmed.
    fn overlap_add(
        frames: &[Vec<f32>],
        window: &[f32],
        hop: usize,
        padding: IstftPadding,
    ) -> Result<Vec<f32>, IstftError> {
        let n_fft = window.len();
        if hop == 0 || hop > n_fft {
            return Err(IstftError::Hop { hop, n_fft });
        }
        if frames.is_empty() {
            return Ok(Vec::new());
        }
        let full_len = (frames.len() - 1) * hop + n_fft;
        let mut y = vec![0f32; full_len];
        let mut env = vec![0f32; full_len];
        for (t, frame) in frames.iter().enumerate() {
            let start = t * hop;
            for (i, (&s, &w)) in frame.iter().zip(window).enumerate() {
                y[start + i] += s;
                env[start + i] += w * w;
            }
        }
        let cut = trim(padding, n_fft, hop);
        let end = full_len.saturating_sub(cut).max(cut);
        let mut out = Vec::with_capacity(end - cut);
        for n in cut..end {
            if env[n] <= 1e-11 {
                return Err(IstftError::Envelope { sample: n - cut });
            }
            out.push(y[n] / env[n]);
        }
        Ok(out)
    }

    /// Streaming output equals the definition up to the samples the last frames still reach,
    /// and all of it after the finish, bit for bit, for both paddings.
    #[test]
    fn equals_offline_overlap_add() {
        for (n_fft, hop, padding) in [
            (1280, 320, IstftPadding::Same),
            (1024, 256, IstftPadding::Center),
        ] {
            let window = hann_periodic(n_fft);
            let frames: Vec<Vec<f32>> = (0..40)
                .map(|t| {
                    (0..n_fft)
                        .map(|i| ((t * 31 + i * 7) as f32 * 0.01).sin() * window[i])
                        .collect()
                })
                .collect();
            let offline = overlap_add(&frames, &window, hop, padding).unwrap();
            let mut stream = StreamingOverlapAdd::new(&window, hop, padding).unwrap();
            let mut out = Vec::new();
            for (t, frame) in frames.iter().enumerate() {
                stream.push(frame, &mut out).unwrap();
                assert_eq!(out.len(), ((t + 1) * hop).saturating_sub(stream.trim()));
            }
            assert_eq!(out[..], offline[..out.len()], "{padding:?}");
            stream.finish(&mut out).unwrap();
            assert_eq!(out, offline, "{padding:?} finished");
            stream.reset();
            let mut again = Vec::new();
            frames
                .iter()
                .for_each(|f| stream.push(f, &mut again).unwrap());
            stream.finish(&mut again).unwrap();
            assert_eq!(again, out, "after reset");
        }
    }
}

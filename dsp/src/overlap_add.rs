//! Streaming inverse STFT: the overlap-add of [`crate::istft`] one frame at a time, emitting
//! each output sample as soon as no later frame reaches it, divided by the same exact
//! window-square envelope (partial at the stream start, as offline).
//!
//! Frame `t` covers untrimmed samples `[t * hop, t * hop + n_fft)`. After frame `t` the
//! untrimmed samples below `(t + 1) * hop` are final, so output (trimmed) samples
//! `n < (t + 1) * hop - trim` are emitted, where `trim` is [`crate::istft::trim`] (480 for the
//! EnCodec variant's `same` padding, 512 for the mel variant's `center`). Sums run in the same
//! order as the offline [`crate::istft::overlap_add`], so the results are identical.

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
        for i in 0..self.hop {
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
        for buffer in [&mut self.sum, &mut self.envelope] {
            buffer.copy_within(self.hop.., 0);
            buffer[n_fft - self.hop..].fill(0.0);
        }
        self.position += self.hop;
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
    use crate::istft::overlap_add;
    use crate::window::hann_periodic;

    /// Streaming output equals the offline output up to the samples the last frames still
    /// reach, bit for bit, for both paddings.
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
            stream.reset();
            let mut again = Vec::new();
            frames
                .iter()
                .for_each(|f| stream.push(f, &mut again).unwrap());
            assert_eq!(again, out, "after reset");
        }
    }
}

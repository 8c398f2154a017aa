//! Forward STFT, centred as `torch.stft(center=True, pad_mode="reflect")`: the signal is
//! reflect-padded by `n_fft / 2` on both sides and frame `t` starts at `t * hop` of the padded
//! signal, giving `1 + N / hop` frames.

use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{RealFftPlanner, RealToComplex};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StftError {
    #[error("window has {window} samples, expected n_fft = {n_fft}")]
    WindowLength { window: usize, n_fft: usize },
    #[error(
        "signal of {len} samples is too short for reflect padding by {pad} (needs more than {pad})"
    )]
    TooShort { len: usize, pad: usize },
    #[error("hop must be positive")]
    Hop,
}

pub struct CenteredStft {
    n_fft: usize,
    hop: usize,
    window: Vec<f32>,
    rfft: Arc<dyn RealToComplex<f32>>,
    frame: Vec<f32>,
    scratch: Vec<Complex32>,
}

impl CenteredStft {
    pub fn new(n_fft: usize, hop: usize, window: Vec<f32>) -> Result<Self, StftError> {
        if window.len() != n_fft {
            return Err(StftError::WindowLength {
                window: window.len(),
                n_fft,
            });
        }
        if hop == 0 {
            return Err(StftError::Hop);
        }
        let rfft = RealFftPlanner::<f32>::new().plan_fft_forward(n_fft);
        let frame = rfft.make_input_vec();
        let scratch = rfft.make_scratch_vec();
        Ok(Self {
            n_fft,
            hop,
            window,
            rfft,
            frame,
            scratch,
        })
    }

    pub fn n_fft(&self) -> usize {
        self.n_fft
    }

    /// Reflect-pads `signal` by `n_fft / 2` on both sides (requires `len > n_fft / 2`).
    pub fn pad(&self, signal: &[f32]) -> Result<Vec<f32>, StftError> {
        let pad = self.n_fft / 2;
        if signal.len() <= pad {
            return Err(StftError::TooShort {
                len: signal.len(),
                pad,
            });
        }
        let n = signal.len();
        let mut padded = Vec::with_capacity(n + 2 * pad);
        padded.extend((1..=pad).rev().map(|i| signal[i]));
        padded.extend_from_slice(signal);
        padded.extend((0..pad).map(|i| signal[n - 2 - i]));
        Ok(padded)
    }

    /// Spectrum of one frame, windowed: the frame is the first `n_fft` samples of `frame` (for
    /// frame `t`, the padded signal from `t * hop` on; see [`Self::pad`]), and `out` takes its
    /// `n_fft / 2 + 1` bins.
    ///
    /// # Panics
    /// If `frame` holds fewer than `n_fft` samples, or `out` not `n_fft / 2 + 1` bins.
    pub fn frame_spectrum(&mut self, frame: &[f32], out: &mut [Complex32]) {
        assert!(frame.len() >= self.n_fft, "a frame needs n_fft samples");
        for ((d, &s), &w) in self.frame.iter_mut().zip(frame).zip(&self.window) {
            *d = s * w;
        }
        self.rfft
            .process_with_scratch(&mut self.frame, out, &mut self.scratch)
            .expect("buffer sizes are fixed at construction");
    }

    /// All `1 + N / hop` spectra of `signal`.
    pub fn spectra(&mut self, signal: &[f32]) -> Result<Vec<Vec<Complex32>>, StftError> {
        let padded = self.pad(signal)?;
        let frames = 1 + signal.len() / self.hop;
        Ok((0..frames)
            .map(|t| {
                let mut out = vec![Complex32::default(); self.n_fft / 2 + 1];
                let start = t * self.hop;
                self.frame_spectrum(&padded[start..start + self.n_fft], &mut out);
                out
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::hann_periodic;

    #[test]
    fn reflect_padding_matches_torch() {
        let stft = CenteredStft::new(4, 1, hann_periodic(4)).unwrap();
        // torch.nn.functional.pad([1,2,3,4], (2,2), mode="reflect") = [3,2,1,2,3,4,3,2]
        assert_eq!(
            stft.pad(&[1., 2., 3., 4.]).unwrap(),
            [3., 2., 1., 2., 3., 4., 3., 2.]
        );
        assert_eq!(
            stft.pad(&[1., 2.]),
            Err(StftError::TooShort { len: 2, pad: 2 })
        );
    }

    #[test]
    fn frame_count_and_dc_bin() {
        let mut stft = CenteredStft::new(16, 4, vec![1.0; 16]).unwrap();
        let spectra = stft.spectra(&[1.0; 40]).unwrap();
        assert_eq!(spectra.len(), 1 + 40 / 4);
        assert!((spectra[5][0].re - 16.0).abs() < 1e-5);
    }
}

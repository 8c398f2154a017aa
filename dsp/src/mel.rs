//! Mel filterbank and log-mel features as Vocos' mel variant computes them (torchaudio
//! `MelSpectrogram(power=1, norm=None, mel_scale="htk")` followed by `log(clip(x, 1e-7))`).

use realfft::num_complex::Complex32;

use crate::stft::{CenteredStft, StftError};

/// Floor applied before the logarithm (vocos `safe_log`).
pub const LOG_FLOOR: f32 = 1e-7;

fn hz_to_mel(hz: f64) -> f64 {
    2595.0 * (1.0 + hz / 700.0).log10()
}

fn mel_to_hz(mel: f64) -> f64 {
    700.0 * (10f64.powf(mel / 2595.0) - 1.0)
}

/// HTK triangular filterbank `(n_freqs, n_mels)` stored row-major by frequency bin
/// (torchaudio `melscale_fbanks(n_freqs, f_min, f_max, n_mels, sample_rate, norm=None, "htk")`):
/// `n_mels + 2` points equally spaced in mel between `f_min` and `f_max`, triangles evaluated on
/// `n_freqs` bins equally spaced from 0 to `sample_rate / 2`, no area normalisation.
pub fn htk_filterbank(
    n_freqs: usize,
    f_min: f64,
    f_max: f64,
    n_mels: usize,
    sample_rate: f64,
) -> Vec<f32> {
    let nyquist = (sample_rate / 2.0).floor();
    let freqs: Vec<f64> = (0..n_freqs)
        .map(|i| nyquist * i as f64 / (n_freqs - 1) as f64)
        .collect();
    let (m_min, m_max) = (hz_to_mel(f_min), hz_to_mel(f_max));
    let points: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(m_min + (m_max - m_min) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut fb = vec![0f32; n_freqs * n_mels];
    for (i, &f) in freqs.iter().enumerate() {
        for m in 0..n_mels {
            let down = (f - points[m]) / (points[m + 1] - points[m]);
            let up = (points[m + 2] - f) / (points[m + 2] - points[m + 1]);
            fb[i * n_mels + m] = down.min(up).max(0.0) as f32;
        }
    }
    fb
}

/// Log-mel analysis: centred STFT magnitude, filterbank, `log(max(x, 1e-7))`.
pub struct LogMel {
    stft: CenteredStft,
    /// `(n_freqs, n_mels)` row-major.
    filterbank: Vec<f32>,
    n_mels: usize,
    hop: usize,
    spectrum: Vec<Complex32>,
    magnitude: Vec<f32>,
}

impl LogMel {
    /// `filterbank` is `(n_fft / 2 + 1, n_mels)` row-major (the layout of torchaudio's `fb`).
    pub fn new(
        n_fft: usize,
        hop: usize,
        window: Vec<f32>,
        filterbank: Vec<f32>,
        n_mels: usize,
    ) -> Result<Self, StftError> {
        let stft = CenteredStft::new(n_fft, hop, window)?;
        let bins = n_fft / 2 + 1;
        assert_eq!(
            filterbank.len(),
            bins * n_mels,
            "filterbank must be (n_fft/2+1, n_mels)"
        );
        Ok(Self {
            stft,
            filterbank,
            n_mels,
            hop,
            spectrum: vec![Complex32::default(); bins],
            magnitude: vec![0.0; bins],
        })
    }

    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    pub fn n_fft(&self) -> usize {
        self.stft.n_fft()
    }

    pub fn hop(&self) -> usize {
        self.hop
    }

    /// Log-mel of one frame of `n_fft` samples into `out` (`n_mels` values).
    pub fn frame(&mut self, frame: &[f32], out: &mut [f32]) {
        self.stft.frame_spectrum(frame, &mut self.spectrum);
        for (m, s) in self.magnitude.iter_mut().zip(&self.spectrum) {
            *m = s.norm();
        }
        out.fill(0.0);
        for (&mag, row) in self
            .magnitude
            .iter()
            .zip(self.filterbank.chunks_exact(self.n_mels))
        {
            for (o, &w) in out.iter_mut().zip(row) {
                *o += w * mag;
            }
        }
        for o in out.iter_mut() {
            *o = o.max(LOG_FLOOR).ln();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htk_mel_scale_round_trips() {
        for hz in [0.0, 100.0, 1000.0, 12_000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-6);
        }
        assert!(
            (hz_to_mel(1000.0) - 1000.0).abs() < 0.1,
            "HTK: 1 kHz is about 1000 mel"
        );
    }

    #[test]
    fn filterbank_triangles_peak_at_one_and_do_not_overlap_beyond_neighbours() {
        let (bins, mels) = (513, 100);
        let fb = htk_filterbank(bins, 0.0, 12_000.0, mels, 24_000.0);
        for m in 0..mels {
            let column: Vec<f32> = (0..bins).map(|i| fb[i * mels + m]).collect();
            let peak = column.iter().cloned().fold(0f32, f32::max);
            assert!(peak > 0.0 && peak <= 1.0, "filter {m} peak {peak}");
        }
        // Adjacent triangles sum to at most 1 at every bin.
        for i in 0..bins {
            let sum: f32 = fb[i * mels..(i + 1) * mels].iter().sum();
            assert!(sum <= 1.0 + 1e-5, "bin {i} sums to {sum}");
        }
    }
}

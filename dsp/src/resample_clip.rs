//! Whole-clip sample-rate conversion for offline work on files (the `vocos` CLI).
//!
//! Uses rubato's synchronous FFT resampler through `process_all`, which runs the chunk loop and
//! trims the resampler's start-up delay, so output sample `k` is aligned with input time
//! `k / to_hz` and the output holds `ceil(len * to_hz / from_hz)` samples. Real-time streams
//! use [`crate::resample`] instead, which never allocates.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

/// Input chunk size of the FFT resampler; large chunks give a steep anti-aliasing filter.
const CHUNK_FRAMES: usize = 1024;

/// Why a clip could not be resampled.
#[derive(Debug, thiserror::Error)]
pub enum ClipResampleError {
    #[error("unsupported sample rate conversion {from_hz} Hz -> {to_hz} Hz: {reason}")]
    Unsupported {
        from_hz: u32,
        to_hz: u32,
        reason: String,
    },
    #[error("resampling {from_hz} Hz -> {to_hz} Hz failed: {reason}")]
    Failed {
        from_hz: u32,
        to_hz: u32,
        reason: String,
    },
}

/// Resamples a mono clip from `from_hz` to `to_hz`. Equal rates return the input unchanged.
pub fn resample_clip(
    input: &[f32],
    from_hz: u32,
    to_hz: u32,
) -> Result<Vec<f32>, ClipResampleError> {
    if from_hz == to_hz {
        return Ok(input.to_vec());
    }
    if from_hz == 0 || to_hz == 0 {
        return Err(ClipResampleError::Unsupported {
            from_hz,
            to_hz,
            reason: "sample rates must be positive".into(),
        });
    }
    if input.is_empty() {
        return Ok(Vec::new());
    }
    let mut resampler = Fft::<f32>::new(
        from_hz as usize,
        to_hz as usize,
        CHUNK_FRAMES,
        1,
        FixedSync::Input,
    )
    .map_err(|e| ClipResampleError::Unsupported {
        from_hz,
        to_hz,
        reason: e.to_string(),
    })?;
    let failed = |e: &dyn std::fmt::Display| ClipResampleError::Failed {
        from_hz,
        to_hz,
        reason: e.to_string(),
    };
    let adapter = InterleavedSlice::new(input, 1, input.len()).map_err(|e| failed(&e))?;
    let output = resampler
        .process_all(&adapter, input.len(), None)
        .map_err(|e| failed(&e))?;
    Ok(output.take_data())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, rate: u32, len: usize) -> Vec<f32> {
        (0..len)
            .map(|n| (2.0 * std::f64::consts::PI * freq * n as f64 / rate as f64).sin() as f32)
            .collect()
    }

    #[test]
    fn same_rate_is_identity() {
        let x = sine(440.0, 24_000, 1000);
        assert_eq!(resample_clip(&x, 24_000, 24_000).unwrap(), x);
    }

    #[test]
    fn sine_keeps_frequency_phase_and_length() {
        for &from in &[44_100u32, 48_000, 16_000, 22_050, 96_000] {
            let len = from as usize / 2 + 17;
            let x = sine(1000.0, from, len);
            let y = resample_clip(&x, from, 24_000).unwrap();
            let expected_len = (len as u64 * 24_000).div_ceil(from as u64) as usize;
            assert_eq!(y.len(), expected_len, "length from {from} Hz");
            let reference = sine(1000.0, 24_000, y.len());
            // Away from the clip edges the resampled sine is the 24 kHz sine, in phase.
            let interior = 2000..y.len() - 2000;
            let err = interior
                .map(|n| (y[n] - reference[n]).abs())
                .fold(0.0f32, f32::max);
            assert!(err < 1e-3, "from {from} Hz: max error {err}");
        }
    }

    #[test]
    fn zero_rate_is_an_error() {
        assert!(matches!(
            resample_clip(&[0.0; 10], 0, 24_000),
            Err(ClipResampleError::Unsupported { .. })
        ));
    }
}

//! Streaming sample-rate conversion for real-time use: rubato's synchronous FFT resampler with
//! both chunk sizes fixed, on interleaved buffers the caller owns. Allocation-free after `new`.
//!
//! The concatenated output of successive chunks is the band-limited resampled input delayed by
//! [`StreamResampler::delay`] output samples (rubato's `output_delay`), so delays add up exactly
//! along a chain of resamplers.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

#[derive(Debug, thiserror::Error)]
pub enum ResampleError {
    #[error("cannot resample {from_hz} Hz -> {to_hz} Hz: {reason}")]
    Construction {
        from_hz: u32,
        to_hz: u32,
        reason: String,
    },
    #[error("resampling failed: {0}")]
    Process(String),
}

pub struct StreamResampler {
    inner: Fft<f32>,
    channels: usize,
    chunk_in: usize,
    chunk_out: usize,
}

impl StreamResampler {
    /// A resampler whose chunks are about `chunk_hint` input frames, rounded so both sides are
    /// whole numbers of frames (e.g. 147 in : 80 out multiples for 44.1 kHz -> 24 kHz).
    pub fn new(
        from_hz: u32,
        to_hz: u32,
        chunk_hint: usize,
        channels: usize,
    ) -> Result<Self, ResampleError> {
        let construction = |reason: String| ResampleError::Construction {
            from_hz,
            to_hz,
            reason,
        };
        if from_hz == 0 || to_hz == 0 || channels == 0 {
            return Err(construction(
                "rates and channel count must be positive".into(),
            ));
        }
        let inner = Fft::<f32>::new(
            from_hz as usize,
            to_hz as usize,
            chunk_hint,
            channels,
            FixedSync::Both,
        )
        .map_err(|e| construction(e.to_string()))?;
        let (chunk_in, chunk_out) = (inner.input_frames_next(), inner.output_frames_next());
        Ok(Self {
            inner,
            channels,
            chunk_in,
            chunk_out,
        })
    }

    /// Input frames consumed by every [`Self::process`] call.
    pub fn chunk_in(&self) -> usize {
        self.chunk_in
    }

    /// Output frames produced by every [`Self::process`] call.
    pub fn chunk_out(&self) -> usize {
        self.chunk_out
    }

    /// Delay of the output stream, in output frames.
    pub fn delay(&self) -> usize {
        self.inner.output_delay()
    }

    /// Resamples one chunk: `input` holds `chunk_in * channels` interleaved samples, `output`
    /// receives `chunk_out * channels`.
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), ResampleError> {
        let process = |e: &dyn std::fmt::Display| ResampleError::Process(e.to_string());
        let adapter_in =
            InterleavedSlice::new(input, self.channels, self.chunk_in).map_err(|e| process(&e))?;
        let mut adapter_out = InterleavedSlice::new_mut(output, self.channels, self.chunk_out)
            .map_err(|e| process(&e))?;
        self.inner
            .process_into_buffer(&adapter_in, &mut adapter_out, None)
            .map_err(|e| process(&e))?;
        Ok(())
    }

    pub fn reset(&mut self) {
        self.inner.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Down to 24 kHz and back up: an impulse comes out after exactly the summed delays (to
    /// within a sample, since the 24 kHz delay need not be a whole number of host samples).
    #[test]
    fn round_trip_delay_is_the_sum_of_the_reported_delays() {
        for rate in [44_100u32, 48_000, 88_200, 96_000, 192_000] {
            let mut down = StreamResampler::new(rate, 24_000, 512, 1).unwrap();
            let mut up = StreamResampler::new(24_000, rate, down.chunk_out(), 1).unwrap();
            assert_eq!(
                up.chunk_in(),
                down.chunk_out(),
                "{rate}: matching chunk sizes"
            );
            let expected = down.delay() as f64 * rate as f64 / 24_000.0 + up.delay() as f64;
            let chunks = 40;
            let mut input = vec![0f32; down.chunk_in() * chunks];
            let impulse_at = down.chunk_in() * 3 + 17;
            input[impulse_at] = 1.0;
            let mut mid = vec![0f32; down.chunk_out()];
            let mut out = Vec::new();
            let mut chunk = vec![0f32; up.chunk_out()];
            for c in input.chunks_exact(down.chunk_in()) {
                down.process(c, &mut mid).unwrap();
                up.process(&mid, &mut chunk).unwrap();
                out.extend_from_slice(&chunk);
            }
            let peak = (0..out.len())
                .max_by(|&a, &b| out[a].abs().total_cmp(&out[b].abs()))
                .unwrap();
            let measured = peak as f64 - impulse_at as f64;
            assert!(
                (measured - expected).abs() <= 1.0,
                "{rate} Hz: measured {measured}, expected {expected}"
            );
        }
    }
}

//! What the engine runs on its worker thread: a stream processor from 24 kHz mono frames to
//! 24 kHz mono frames, one stream per channel, all channels in one call so a model can batch
//! them.

use vocos_dsp::delay::DelayLine;
use vocos_dsp::resample::ResampleError;
use vocos_model::error::ModelError;

/// Rate every processor runs at: the models' rate.
pub const MODEL_RATE: u32 = vocos_model::SAMPLE_RATE as u32;

pub trait StreamProcessor: Send + 'static {
    /// Samples per channel of one frame, the unit of timing (bandwidth changes take effect at
    /// frame boundaries).
    fn frame_size(&self) -> usize;

    /// Frames the engine gathers before calling [`Self::process_frames`]: batching frames
    /// saves compute (weights are read once per batch) and adds `(n - 1)` frames of latency.
    fn frames_per_step(&self) -> usize {
        1
    }

    /// Algorithmic latency in 24 kHz samples: output sample `n` is the processed input sample
    /// `n - latency()`. Constant for the processor's lifetime.
    fn latency(&self) -> usize;

    /// Processes whole frames of every channel: `input[c]` and `output[c]` hold the same
    /// number of samples, 1 to `frames_per_step()` frames (fewer where a bandwidth change splits
    /// a step). Called on the worker thread only. On an error the output is left unspecified:
    /// the worker plays those frames as silence and reports the error.
    fn process_frames(
        &mut self,
        input: &[&[f32]],
        output: &mut [&mut [f32]],
    ) -> Result<(), ProcessError>;

    /// Selects the bandwidth (0..4 = 1.5 / 3 / 6 / 12 kbps) from the next frame on.
    fn set_bandwidth(&mut self, index: usize);

    /// Returns to the stream-start state without allocating.
    fn reset(&mut self);
}

/// Why a step of the worker produced no audio; the worker plays the step as silence.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("the model failed: {0}")]
    Model(#[from] ModelError),
    #[error("resampling failed: {0}")]
    Resampler(#[from] ResampleError),
    /// The processor produced another number of samples than it was given.
    #[error("the model returned {actual} samples for {expected}")]
    Length { expected: usize, actual: usize },
}

/// The processor without a model: passes audio through delayed by the latency the model would
/// have, so the plugin outputs the latency-compensated dry signal and loading a model later
/// does not change the latency.
pub struct Passthrough {
    frame_size: usize,
    frames_per_step: usize,
    delays: Vec<DelayLine>,
}

impl Passthrough {
    /// Stands in for a model with this frame, step and latency.
    pub fn new(frame_size: usize, frames_per_step: usize, latency: usize, channels: usize) -> Self {
        Self {
            frame_size,
            frames_per_step,
            delays: (0..channels).map(|_| DelayLine::new(latency)).collect(),
        }
    }
}

impl StreamProcessor for Passthrough {
    fn frame_size(&self) -> usize {
        self.frame_size
    }

    fn frames_per_step(&self) -> usize {
        self.frames_per_step
    }

    fn latency(&self) -> usize {
        self.delays.first().map_or(0, DelayLine::delay)
    }

    fn process_frames(
        &mut self,
        input: &[&[f32]],
        output: &mut [&mut [f32]],
    ) -> Result<(), ProcessError> {
        for ((o, i), delay) in output.iter_mut().zip(input).zip(&mut self.delays) {
            for (o, &i) in o.iter_mut().zip(i.iter()) {
                *o = delay.process(i);
            }
        }
        Ok(())
    }

    fn set_bandwidth(&mut self, _index: usize) {}

    fn reset(&mut self) {
        self.delays.iter_mut().for_each(DelayLine::reset);
    }
}

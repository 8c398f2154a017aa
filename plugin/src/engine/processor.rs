//! What the engine runs on its worker thread: a stream processor from 24 kHz mono frames to
//! 24 kHz mono frames, one stream per channel, all channels in one call so a model can batch
//! them.

use vocos_dsp::delay::DelayLine;
use vocos_dsp::resample::ResampleError;
use vocos_model::error::ModelError;

/// Rate every processor runs at: the models' rate.
pub const MODEL_RATE: u32 = vocos_model::SAMPLE_RATE as u32;

/// A processor's timing, constant for its lifetime: the engine sizes its buffers and reports
/// its latency from it, and only takes a replacement processor with the same timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Samples per channel of one frame, the unit of timing (bandwidth changes take effect at
    /// frame boundaries).
    pub frame: usize,
    /// Frames the engine gathers before calling [`StreamProcessor::process_frames`] (at least
    /// 1): batching frames saves compute (weights are read once per batch) and adds `(n - 1)`
    /// frames of latency.
    pub frames_per_step: usize,
    /// Algorithmic latency in 24 kHz samples: output sample `n` is the processed input sample
    /// `n - latency`.
    pub latency: usize,
}

impl Timing {
    /// Samples per channel of one step.
    pub fn step(&self) -> usize {
        self.frame * self.frames_per_step
    }
}

/// What [`StreamProcessor::process_frames`] returns.
pub type Processed = Result<(), ProcessError>;

pub trait StreamProcessor: Send + 'static {
    fn timing(&self) -> Timing;

    /// Processes whole frames of every channel: `input[c]` and `output[c]` hold the same
    /// number of samples, 1 to `frames_per_step` frames (fewer where a bandwidth change splits
    /// a step). Called on the worker thread only. On an error the output is left unspecified:
    /// the worker plays those frames as silence and reports the error.
    fn process_frames(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) -> Processed;

    /// Selects the bandwidth (0..4 = 1.5 / 3 / 6 / 12 kbps) from the next frame on; processors
    /// without one ignore it.
    fn set_bandwidth(&mut self, _index: usize) {}

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
    timing: Timing,
    delays: Vec<DelayLine>,
}

impl Passthrough {
    /// Stands in for a model with this frame, step and latency.
    pub fn new(frame: usize, frames_per_step: usize, latency: usize, channels: usize) -> Self {
        Self {
            timing: Timing {
                frame,
                frames_per_step,
                latency,
            },
            delays: (0..channels).map(|_| DelayLine::new(latency)).collect(),
        }
    }
}

impl StreamProcessor for Passthrough {
    fn timing(&self) -> Timing {
        self.timing
    }

    fn process_frames(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) -> Processed {
        for ((o, i), delay) in output.iter_mut().zip(input).zip(&mut self.delays) {
            for (o, &i) in o.iter_mut().zip(i.iter()) {
                *o = delay.process(i);
            }
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.delays.iter_mut().for_each(DelayLine::reset);
    }
}

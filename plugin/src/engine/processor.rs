//! What the engine runs on its worker thread: a stream processor from 24 kHz mono frames to
//! 24 kHz mono frames, one stream per channel, all channels in one call so a model can batch
//! them.

use vocos_dsp::delay::DelayLine;

/// Rate every processor runs at.
pub const MODEL_RATE: u32 = 24_000;

pub trait StreamProcessor: Send + 'static {
    /// Samples per channel consumed and produced by every [`Self::process_frame`] call.
    fn frame_size(&self) -> usize;

    /// Algorithmic latency in 24 kHz samples: output sample `n` is the processed input sample
    /// `n - latency()`. Constant for the processor's lifetime.
    fn latency(&self) -> usize;

    /// Processes one frame of every channel: `input[c]` and `output[c]` hold `frame_size()`
    /// samples. Called on the worker thread only.
    fn process_frame(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]);

    /// Selects the bandwidth (0..4 = 1.5 / 3 / 6 / 12 kbps) from the next frame on.
    fn set_bandwidth(&mut self, index: usize);

    /// Returns to the stream-start state without allocating.
    fn reset(&mut self);
}

/// The processor without a model: passes audio through delayed by the latency the model would
/// have, so the plugin outputs the latency-compensated dry signal and loading a model later
/// does not change the latency.
pub struct Passthrough {
    frame_size: usize,
    delays: Vec<DelayLine>,
}

impl Passthrough {
    pub fn new(frame_size: usize, latency: usize, channels: usize) -> Self {
        Self {
            frame_size,
            delays: (0..channels).map(|_| DelayLine::new(latency)).collect(),
        }
    }
}

impl StreamProcessor for Passthrough {
    fn frame_size(&self) -> usize {
        self.frame_size
    }

    fn latency(&self) -> usize {
        self.delays.first().map_or(0, DelayLine::delay)
    }

    fn process_frame(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) {
        for ((o, i), delay) in output.iter_mut().zip(input).zip(&mut self.delays) {
            for (o, &i) in o.iter_mut().zip(i.iter()) {
                *o = delay.process(i);
            }
        }
    }

    fn set_bandwidth(&mut self, _index: usize) {}

    fn reset(&mut self) {
        self.delays.iter_mut().for_each(DelayLine::reset);
    }
}

//! What the engine runs on its worker thread: a stream processor from 24 kHz mono frames to
//! 24 kHz mono frames, one stream per channel, all channels in one call so a model can batch
//! them.

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

/// The processor without a model: passes audio through unchanged, so the plugin outputs the
/// latency-compensated dry signal.
pub struct Passthrough {
    frame_size: usize,
}

impl Passthrough {
    /// One EnCodec hop (320 samples), the frame the model will use.
    pub fn new() -> Self {
        Self { frame_size: 320 }
    }
}

impl Default for Passthrough {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamProcessor for Passthrough {
    fn frame_size(&self) -> usize {
        self.frame_size
    }

    fn latency(&self) -> usize {
        0
    }

    fn process_frame(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) {
        for (o, i) in output.iter_mut().zip(input) {
            o.copy_from_slice(i);
        }
    }

    fn set_bandwidth(&mut self, _index: usize) {}

    fn reset(&mut self) {}
}

//! Latency and buffer sizes of one engine activation, derived from the host setup, the
//! processor and the resamplers.
//!
//! `latency = chain + buffering` host samples, exact:
//! - `chain`: the delay of resampling to 24 kHz, the processor and resampling back,
//!   `round((down_delay + processor_latency) * host_rate / 24000) + up_delay`; just the
//!   processor latency at 24 kHz, where nothing is resampled. Rounding is why other rates are
//!   exact to within one sample rather than to the sample.
//! - `buffering = 2 * max_block + granularity + step`, where the granularity is what the worker
//!   must gather before it can emit anything: one resampler input chunk, one processor step (its
//!   frames per step) and one resampler output chunk (one step at 24 kHz); `step` is the
//!   processor step in host samples. The input that completes a step can arrive in the
//!   callback just before the one that must play its first output sample; with this much
//!   buffering the worker then still has one callback period plus one step to compute the
//!   step, so it never falls behind as long as it keeps up on average (computing a step takes
//!   less than the step lasts), and hosts may split callbacks into sub-blocks (nice-plug does
//!   at parameter changes).

use vocos_dsp::resample::StreamResampler;

use super::{EngineError, MODEL_RATE};

/// The host-side configuration of one activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineSetup {
    pub host_rate: u32,
    /// 1 or 2.
    pub channels: usize,
    /// The largest block the host will pass to one `process` call.
    pub max_block: usize,
    /// Wait for the worker when the host calls faster than real time (see `pace`). The plugin
    /// sets it; tests of real-time behaviour that feed blocks back to back clear it.
    pub detect_fast_host: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Input-to-output delay in host samples.
    pub latency: usize,
    /// Resampling and processor delay in host samples.
    pub chain: usize,
    /// Silence played at stream start while the worker fills the pipeline, in host samples.
    pub buffering: usize,
    /// Capacity of the input ring in host frames. When the worker falls this far behind, the
    /// audio thread restarts the stream rather than lose input silently.
    pub input_frames: usize,
    /// Capacity of the output ring in host frames: never full in operation.
    pub output_frames: usize,
}

impl Plan {
    /// `frame` is the processor's step (frame size times frames per step); `resamplers` are
    /// host -> 24 kHz and 24 kHz -> host, `None` at 24 kHz.
    pub fn new(
        setup: &EngineSetup,
        frame: usize,
        processor_latency: usize,
        resamplers: Option<(&StreamResampler, &StreamResampler)>,
    ) -> Self {
        let rate = u64::from(setup.host_rate);
        let to_host_ceil = |n: usize| (n as u64 * rate).div_ceil(u64::from(MODEL_RATE)) as usize;
        let step = to_host_ceil(frame);
        let (chain, granularity) = match resamplers {
            None => (processor_latency, frame),
            Some((down, up)) => {
                let at_24k = (down.delay() + processor_latency) as f64;
                let in_host = (at_24k * rate as f64 / f64::from(MODEL_RATE)).round() as usize;
                (
                    in_host + up.delay(),
                    down.chunk_in() + to_host_ceil(frame) + up.chunk_out(),
                )
            }
        };
        let buffering = 2 * setup.max_block.max(1) + granularity + step;
        let latency = chain + buffering;
        // Room for the whole pipeline plus one second of backlog before the audio thread gives
        // up on a stalled worker.
        let input_frames = 2 * (latency + granularity) + setup.host_rate as usize;
        Self {
            latency,
            chain,
            buffering,
            input_frames,
            output_frames: input_frames + 2 * (buffering + granularity),
        }
    }

    /// The resamplers for `setup`, `None` at 24 kHz.
    pub fn resamplers(
        setup: &EngineSetup,
    ) -> Result<Option<(StreamResampler, StreamResampler)>, EngineError> {
        // Any positive rate: the resamplers convert any pair of whole rates. Rates that share
        // few factors with 24 kHz make them work in larger chunks (up to a second of audio for
        // a rate coprime with 24000, e.g. 45679 Hz), which the latency then includes.
        if setup.host_rate == 0 {
            return Err(EngineError::Rate(setup.host_rate));
        }
        if !(1..=2).contains(&setup.channels) {
            return Err(EngineError::Channels(setup.channels));
        }
        if setup.host_rate == MODEL_RATE {
            return Ok(None);
        }
        /// Resampler chunk size hint, in host frames.
        const CHUNK_HINT: usize = 512;
        let down = StreamResampler::new(setup.host_rate, MODEL_RATE, CHUNK_HINT, setup.channels)?;
        let up = StreamResampler::new(
            MODEL_RATE,
            setup.host_rate,
            down.chunk_out(),
            setup.channels,
        )?;
        Ok(Some((down, up)))
    }
}

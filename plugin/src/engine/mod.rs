//! The real-time engine: the audio thread hands host audio to a worker thread through lock-free
//! SPSC rings and plays back what the worker produced a fixed number of samples earlier.
//!
//! - [`Engine`] is the audio thread's side. It never allocates, locks, makes a system call or
//!   waits in real-time mode. When the worker is late it plays silence for the missing samples,
//!   counts an underrun and drops those samples when they arrive, so the latency never drifts.
//!   When asked to (offline rendering) it waits for the worker instead, so a bounce equals
//!   real-time playback of a worker that keeps up.
//! - The worker thread ([`worker`]) resamples host audio to 24 kHz, runs a
//!   [`StreamProcessor`] frame by frame and resamples back.
//! - [`Plan`] derives the exact latency and the ring sizes from the host setup.
//! - [`transport`] restarts the stream where the host's playback starts or jumps, on the model's
//!   frame grid laid over the timeline, so the same audio from the same place sounds the same.
//!
//! Streams and resets: every reset starts a new stream identified by an epoch. The audio thread
//! sends the epoch with the input position where the new stream starts; the worker discards
//! older input, resets its state, and publishes how many output samples it had written by then
//! (the mark). The audio thread discards output before the mark, so nothing from before a reset
//! leaks into the new stream, and it never has to wait for the worker to acknowledge.

mod audio;
mod denormals;
mod pace;
mod plan;
mod processor;
mod transport;
mod worker;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

pub use audio::Engine;
pub use plan::{EngineSetup, Plan};
pub use processor::{MODEL_RATE, Passthrough, ProcessError, Processed, StreamProcessor, Timing};
pub use transport::Playhead;

/// Messages from the audio thread to the worker. Positions count host frames (one sample per
/// channel) pushed into the input ring since the engine started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    /// Select bandwidth `index` from the model frame that input frame `at` falls into.
    Bandwidth { index: usize, at: u64 },
    /// Start stream `epoch` with input frame `at`.
    Reset { epoch: u64, at: u64 },
}

/// State shared by the audio thread and the worker.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Set by the audio side to stop the worker.
    stop: AtomicBool,
    /// The latest stream epoch the worker has started (release-stored after `output_mark`).
    started_epoch: AtomicU64,
    /// Interleaved samples the worker had written to the output ring when it started
    /// `started_epoch`: everything before belongs to older streams.
    output_mark: AtomicU64,
    /// Blocks in which the worker was late (real-time mode).
    underruns: AtomicU64,
    /// Input frames the worker had taken when it last went idle.
    idle_at: AtomicU64,
    /// Blocks whose input held samples that are not audio (counted by the audio side).
    broken_input_blocks: AtomicU64,
    /// Times the worker reset a processor that produced non-finite output.
    model_resets: AtomicU64,
    /// Steps that failed; shared beyond the engine with whoever shows them.
    failures: Arc<Failures>,
}

/// The worker's failed steps (a model or resampler error: played as silence), for the editor.
/// Written by the worker, read by the GUI; the audio thread never touches it.
#[derive(Debug, Default)]
pub struct Failures {
    /// Steps that failed since the engine started.
    steps: AtomicU64,
    /// Times a failure was logged: the first failure, then the first after each stream restart
    /// or processor replacement.
    logged: AtomicU64,
    /// The last failure's reason in words; the worker replaces it only when the reason changes,
    /// so a failing model does not allocate per step.
    reason: Mutex<String>,
}

impl Failures {
    /// Steps that failed since the engine started.
    pub fn steps(&self) -> u64 {
        self.steps.load(Ordering::Relaxed)
    }

    /// Times a failure was logged (at most once per stream and processor).
    pub fn logged(&self) -> u64 {
        self.logged.load(Ordering::Relaxed)
    }

    /// The last failure's reason, `None` while no step failed. Locks: never on the audio thread.
    pub fn reason(&self) -> Option<String> {
        let reason = self.reason.lock().unwrap_or_else(PoisonError::into_inner);
        (!reason.is_empty()).then(|| reason.clone())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("unsupported channel count {0} (mono or stereo)")]
    Channels(usize),
    #[error("unsupported host sample rate {0} Hz")]
    Rate(u32),
    #[error(transparent)]
    Resample(#[from] vocos_dsp::resample::ResampleError),
    #[error("cannot start the inference thread: {0}")]
    Spawn(std::io::Error),
}

#[cfg(test)]
mod tests;

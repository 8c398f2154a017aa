//! What the editor shows, written by the audio thread (atomics only) and by the main thread.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::engine::{Engine, Failures, MODEL_RATE};

/// Shown while no model is loaded: the plugin then outputs the latency-compensated dry signal.
pub const NO_MODEL: &str = "No model loaded: the output is the input, delayed by the latency.";

#[derive(Debug)]
pub struct Status {
    /// Reported latency in host samples (0 before the first activation).
    pub latency: AtomicU32,
    pub sample_rate: AtomicU32,
    /// Blocks the worker was late for since the last activation.
    pub underruns: AtomicU64,
    /// Blocks of the current activation whose input held samples that are not audio (NaN,
    /// infinities, beyond +60 dBFS): played as silence, the model restarted after them.
    pub broken_input_blocks: AtomicU64,
    /// Times in the current activation the model produced non-finite output and was reset.
    pub model_resets: AtomicU64,
    /// Whether the host's transport positions were found not to follow the audio in the
    /// current activation (the stream then no longer restarts with playback).
    pub ignores_transport: AtomicBool,
    /// Index of the model kind the running engine was set up for (`usize::MAX` before the
    /// first activation): when the Model parameter differs, the host has yet to restart it.
    pub active_model: AtomicUsize,
    /// Likewise for the Latency parameter (`params::Latency` index).
    pub active_latency: AtomicUsize,
    /// Model state in words. Never touched by the audio thread.
    pub model: Mutex<String>,
    /// The failed steps of the engine of the current (or last) activation, replaced at each
    /// activation. Never touched by the audio thread.
    pub failures: Mutex<Arc<Failures>>,
}

impl Default for Status {
    fn default() -> Self {
        Self {
            latency: AtomicU32::new(0),
            sample_rate: AtomicU32::new(0),
            underruns: AtomicU64::new(0),
            broken_input_blocks: AtomicU64::new(0),
            model_resets: AtomicU64::new(0),
            ignores_transport: AtomicBool::new(false),
            active_model: AtomicUsize::new(usize::MAX),
            active_latency: AtomicUsize::new(usize::MAX),
            model: Mutex::new(NO_MODEL.to_owned()),
            failures: Mutex::default(),
        }
    }
}

impl Status {
    /// Takes the engine's counts after a block. Atomics only: for the audio thread.
    pub fn follow(&self, engine: &Engine) {
        let counts = [
            (&self.underruns, engine.underruns()),
            (&self.broken_input_blocks, engine.broken_input_blocks()),
            (&self.model_resets, engine.model_resets()),
        ];
        for (count, value) in counts {
            count.store(value, Ordering::Relaxed);
        }
        self.ignores_transport
            .store(engine.ignores_transport(), Ordering::Relaxed);
    }

    /// What went wrong with the audio in the current activation, in words, if anything. Locks:
    /// for the editor, never on the audio thread.
    pub fn audio_problems(&self) -> Option<String> {
        let broken = self.broken_input_blocks.load(Ordering::Relaxed);
        let resets = self.model_resets.load(Ordering::Relaxed);
        let failures = self
            .failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut problems = Vec::new();
        if let Some(reason) = failures.reason() {
            problems.push(format!(
                "processing failed in {} steps, played as silence; last: {reason}",
                failures.steps()
            ));
        }
        if broken > 0 {
            problems.push(format!(
                "the input held NaN, infinite or out-of-range samples in {broken} blocks: played \
                 as silence, and the model restarted after them"
            ));
        }
        if resets > 0 {
            problems.push(format!(
                "the model's output was not finite {resets} times: silenced, its state reset"
            ));
        }
        if self.ignores_transport.load(Ordering::Relaxed) {
            problems.push(
                "the host's playback positions do not follow the audio: one continuous stream, \
                 playback no longer restarts the model"
                    .into(),
            );
        }
        (!problems.is_empty()).then(|| problems.join("; "))
    }

    /// The latency as "N samples (x.x ms)", or `None` before activation.
    pub fn latency_text(&self) -> Option<String> {
        let samples = self.latency.load(Ordering::Relaxed);
        let rate = self.sample_rate.load(Ordering::Relaxed);
        (rate > 0).then(|| {
            let ms = f64::from(samples) * 1000.0 / f64::from(rate);
            format!("{samples} samples ({ms:.1} ms at {rate} Hz)")
        })
    }

    /// What the plugin does at the host's rate, or `None` before activation: the model runs
    /// at 24 kHz, other rates are resampled to it and back.
    pub fn rate_text(&self) -> Option<String> {
        match self.sample_rate.load(Ordering::Relaxed) {
            0 => None,
            MODEL_RATE => Some("24 kHz, the model's own rate: no resampling".into()),
            rate => Some(format!(
                "{rate} Hz: resampled to the model's 24 kHz and back (band-limited to {:.1} kHz)",
                f64::from(rate.min(MODEL_RATE)) / 2000.0
            )),
        }
    }
}

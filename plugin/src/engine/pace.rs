//! Detects a host that calls `process` faster than real time without saying so (some hosts
//! export that way in real-time mode, and nice-plug's VST3 wrapper hands `activate` the process
//! mode of the previous `setupProcessing`). The engine then waits for its worker as in offline
//! mode, so such exports are complete and equal to real-time playback.
//!
//! The lead is the audio time the host has delivered beyond the wall-clock time that passed,
//! never below zero: a real-time host keeps it within about one block (callback jitter); a
//! faster-than-real-time render grows it by almost a whole block per call. Reading the clock
//! is a vDSO call on Linux, not a system call.

use std::time::Instant;

pub(crate) struct PaceDetector {
    previous: Option<Instant>,
    /// Seconds of audio delivered ahead of the wall clock.
    lead: f64,
    /// Lead above which the host is running ahead of real time: one maximum block plus 10 ms.
    threshold: f64,
    rate: f64,
}

impl PaceDetector {
    pub fn new(rate: u32, max_block: usize) -> Self {
        let rate = f64::from(rate);
        Self {
            previous: None,
            lead: 0.0,
            threshold: max_block as f64 / rate + 0.010,
            rate,
        }
    }

    /// Call once per block of `len` samples; returns whether the host is ahead of real time.
    pub fn ahead(&mut self, len: usize) -> bool {
        let now = Instant::now();
        let elapsed = self
            .previous
            .map_or(0.0, |previous| now.duration_since(previous).as_secs_f64());
        self.previous = Some(now);
        self.lead = (self.lead - elapsed).max(0.0) + len as f64 / self.rate;
        self.lead > self.threshold
    }
}

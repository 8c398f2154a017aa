//! Progress display for long files: one bar over the pipeline's stages, each weighted by its
//! share of the compute (the stages' multiply-accumulate counts per second of audio), with the
//! stage's name.
//! Hidden for short clips and when stderr is not a terminal.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Clips shorter than this finish too fast for a bar to help.
const LONG_CLIP_SECONDS: f64 = 10.0;

/// Relative cost of each stage per second of audio (millions of multiply-accumulates).
pub mod cost {
    pub const ENCODER: u64 = 1490;
    pub const QUANTIZER_PER_CODEBOOK: u64 = 10;
    pub const VOCOS_ENCODEC: u64 = 595;
    pub const VOCOS_MEL: u64 = 1266;
    /// Feature extraction, resampling and file I/O: small but visible.
    pub const LIGHT: u64 = 20;
    /// The whole streaming pipeline (encoder, RVQ at up to 16 codebooks, Vocos).
    pub const STREAMING: u64 = ENCODER + 16 * QUANTIZER_PER_CODEBOOK + VOCOS_ENCODEC;
}

pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar whose length is the summed weight of the stages the command will run.
    pub fn new(audio_seconds: f64, total_weight: u64) -> Self {
        let bar = if audio_seconds >= LONG_CLIP_SECONDS {
            let bar =
                ProgressBar::with_draw_target(Some(total_weight), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:40} {percent:>3}% {msg}",
                )
                .expect("template is valid"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        } else {
            ProgressBar::hidden()
        };
        Self { bar }
    }

    /// Runs one stage, showing its name while it runs and advancing the bar by its weight.
    pub fn stage<T>(&self, name: &'static str, weight: u64, run: impl FnOnce() -> T) -> T {
        self.bar.set_message(name);
        let result = run();
        self.bar.inc(weight);
        result
    }

    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}

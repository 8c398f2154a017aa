//! CPU use of the inference worker for a stereo 48 kHz instance at 12 kbps, playing in real
//! time: for each Latency setting, and on noise against silence after a loud burst (a decaying
//! model state must cost no more than sound); and the memory of two instances sharing one
//! model. Full-size models: `VOCOS_FULLSIZE_DIR`, else seeded random weights
//! (`vocos_model::random_weights`):
//!
//!     cargo xtask bench

mod common;

use std::time::{Duration, Instant};

use common::{codec, cpu_seconds, full_size_dir, rss_mb};
use vocos_plugin::codec_processor::ModelProcessor;
use vocos_plugin::engine::{Engine, EngineSetup};
use vocos_plugin::params::Latency;

const RATE: u32 = 48_000;
const BLOCK: usize = 512;
const SECONDS: usize = 20;

fn main() {
    let (dir, weights) = full_size_dir();
    println!("Models: {weights}");
    let before = rss_mb();
    let model = codec(&dir);
    let standard = Latency::Standard.frames_per_step();
    let one = ModelProcessor::new(&model, 2, 3, standard).unwrap();
    let with_one = rss_mb();
    let two = ModelProcessor::new(&model, 2, 3, standard).unwrap();
    let with_two = rss_mb();
    println!(
        "memory: model + 1 stereo instance {:.0} MB, + a 2nd instance sharing the model {:.0} MB more",
        with_one - before,
        with_two - with_one
    );
    drop((one, two));
    for mode in [Latency::Standard, Latency::LowCpu] {
        let processor = ModelProcessor::new(&model, 2, 3, mode.frames_per_step()).unwrap();
        let cpu = play_in_real_time(Box::new(processor), Input::Tones);
        println!("worker, Latency {mode:?}, tones: {cpu}");
    }
    // A decaying tail must not cost more than sound: subnormal floats are flushed to zero.
    let mut cpu = Vec::new();
    for input in [Input::Noise, Input::SilenceAfterBurst] {
        let processor = ModelProcessor::new(&model, 2, 3, standard).unwrap();
        let measured = play_in_real_time(Box::new(processor), input);
        println!("worker, Latency Standard, {input:?}: {measured}");
        cpu.push(measured.percent);
    }
    println!(
        "silence after a burst costs {:.1} % of what noise costs (target: within 10 %)",
        100.0 * cpu[1] / cpu[0]
    );
}

/// What the benchmark plays, both channels.
#[derive(Debug, Clone, Copy)]
enum Input {
    /// 220 and 330 Hz sines.
    Tones,
    /// A second of full-scale noise, then noise at -10 dBFS; measured after the first second.
    Noise,
    /// A second of full-scale noise, then digital silence (the model's state decays towards
    /// subnormal values); measured after the first second.
    SilenceAfterBurst,
}

impl Input {
    fn sample(self, n: usize, state: &mut u32) -> f32 {
        *state ^= *state << 13;
        *state ^= *state >> 17;
        *state ^= *state << 5;
        let noise = *state as f32 / u32::MAX as f32 * 2.0 - 1.0;
        let burst = n < RATE as usize;
        match self {
            Input::Tones => {
                let t = n as f32 / RATE as f32;
                0.3 * (t * 220.0 * std::f32::consts::TAU).sin()
            }
            _ if burst => noise,
            Input::Noise => 0.3 * noise,
            Input::SilenceAfterBurst => 0.0,
        }
    }

    /// Seconds played before the measurement starts.
    fn lead_in(self) -> usize {
        match self {
            Input::Tones => 0,
            Input::Noise | Input::SilenceAfterBurst => 1,
        }
    }
}

/// The worker's share of a core while playing, with the underruns and latency.
struct Measured {
    percent: f64,
    underruns: u64,
    latency: usize,
}

impl std::fmt::Display for Measured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stereo {RATE} Hz, 12 kbps, blocks of {BLOCK}, real time for {SECONDS} s: {:.1} % of \
             one core, {} underruns, latency {} samples ({:.0} ms)",
            self.percent,
            self.underruns,
            self.latency,
            self.latency as f64 * 1000.0 / f64::from(RATE)
        )
    }
}

/// Plays `input` through an engine running `processor`, paced like a host in real time, and
/// measures the process's CPU use over `SECONDS` after the input's lead-in.
fn play_in_real_time(processor: Box<ModelProcessor>, input: Input) -> Measured {
    let setup = EngineSetup {
        host_rate: RATE,
        channels: 2,
        max_block: BLOCK,
        detect_fast_host: false,
    };
    let mut engine = Engine::start(setup, processor).unwrap();
    let mut left = vec![0f32; BLOCK];
    let mut right = vec![0f32; BLOCK];
    let lead_in = input.lead_in() * RATE as usize / BLOCK;
    let blocks = lead_in + SECONDS * RATE as usize / BLOCK;
    let mut state = 0x2545_f491u32;
    let start = Instant::now();
    let mut mark = (cpu_seconds(), 0.0);
    for k in 0..blocks {
        if k == lead_in {
            mark = (cpu_seconds(), start.elapsed().as_secs_f64());
        }
        for (i, (l, r)) in left.iter_mut().zip(&mut right).enumerate() {
            *l = input.sample(k * BLOCK + i, &mut state);
            *r = input.sample(k * BLOCK + i, &mut state);
        }
        engine.process(&mut [&mut left, &mut right], false, || (1.0, 1.0));
        let due = Duration::from_secs_f64(((k + 1) * BLOCK) as f64 / f64::from(RATE));
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    let wall = start.elapsed().as_secs_f64() - mark.1;
    Measured {
        percent: 100.0 * (cpu_seconds() - mark.0) / wall,
        underruns: engine.underruns(),
        latency: engine.latency(),
    }
}

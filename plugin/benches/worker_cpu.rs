//! CPU use of the inference worker for a stereo 48 kHz instance at 12 kbps, playing in real
//! time, for each Latency setting, and the memory of two instances sharing one model. Full-size random weights from
//! `model/fixtures/generate.py --size full --out DIR`:
//!
//!     VOCOS_FULLSIZE_DIR=DIR cargo xtask bench

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
    let Some(dir) = full_size_dir() else {
        eprintln!(
            "VOCOS_FULLSIZE_DIR is not set (full-size random weights, see model/fixtures/README.md)"
        );
        std::process::exit(2);
    };
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
        play_in_real_time(Box::new(processor), &format!("{mode:?}"));
    }
}

/// Plays `SECONDS` of a stereo signal through an engine running `processor`, paced like a host
/// in real time, and prints the process's CPU use.
fn play_in_real_time(processor: Box<ModelProcessor>, label: &str) {
    let setup = EngineSetup {
        host_rate: RATE,
        channels: 2,
        max_block: BLOCK,
        detect_fast_host: false,
    };
    let mut engine = Engine::start(setup, processor).unwrap();
    let mut left = vec![0f32; BLOCK];
    let mut right = vec![0f32; BLOCK];
    let blocks = SECONDS * RATE as usize / BLOCK;
    let cpu_start = cpu_seconds();
    let start = Instant::now();
    for k in 0..blocks {
        for (i, (l, r)) in left.iter_mut().zip(&mut right).enumerate() {
            let t = (k * BLOCK + i) as f32 / RATE as f32;
            *l = 0.3 * (t * 220.0 * std::f32::consts::TAU).sin();
            *r = 0.3 * (t * 330.0 * std::f32::consts::TAU).sin();
        }
        engine.process(&mut [&mut left, &mut right], false, || (1.0, 1.0));
        let due = Duration::from_secs_f64(((k + 1) * BLOCK) as f64 / f64::from(RATE));
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_start;
    println!(
        "worker, Latency {label}, stereo {RATE} Hz, 12 kbps, blocks of {BLOCK}, real time for \
         {SECONDS} s: {:.0} % of one core, {} underruns, latency {} samples ({:.0} ms)",
        100.0 * cpu / wall,
        engine.underruns(),
        engine.latency(),
        engine.latency() as f64 * 1000.0 / f64::from(RATE)
    );
}

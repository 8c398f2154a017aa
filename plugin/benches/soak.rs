//! Soak: a stereo 48 kHz instance playing in real time for N minutes (default 60) with
//! bandwidth automation, as a host would run it, checked all along:
//! - **the subject**: the engine running the codec in real time (512-sample blocks, paced by the
//!   clock), its bandwidth moved every 2 s;
//! - **drift and glitches with the model**: its output is compared, sample for sample, with a
//!   second engine given the same input and automation but rendering offline (it waits for its
//!   worker). They are equal only if the subject never underran and its latency never moved;
//! - **drift of the dry path**: a third engine in real time with Mix at 0 must output its input
//!   delayed by exactly the reported latency;
//! - underruns, process CPU (all three engines' threads) and RSS each minute, peak RSS.
//!
//! The codec is the committed tiny one, or with `--full-size` the full-size one the benchmarks
//! run (`VOCOS_FULLSIZE_DIR`, else seeded random weights). Exits non-zero on any underrun or
//! differing sample, or RSS growing 1 MB or more after the first minute.
//!
//!     cargo xtask soak [--minutes N] [--full-size]

mod common;

use std::time::{Duration, Instant};

use common::{codec, cpu_seconds, full_size_dir, memory_mb, rss_mb, tiny_dir};
use vocos_plugin::codec_processor::{ModelProcessor, frame_and_latency};
use vocos_plugin::engine::{Engine, EngineSetup, Passthrough};
use vocos_plugin::models::ModelKind;
use vocos_plugin::params::Latency;

const RATE: u32 = 48_000;
const BLOCK: usize = 512;
/// Bandwidth automation: the next bandwidth every this many blocks (about 2 s).
const AUTOMATION_BLOCKS: usize = 188;

fn main() {
    let minutes: u64 = std::env::args()
        .skip_while(|a| a != "--minutes")
        .nth(1)
        .map_or(60, |m| m.parse().expect("--minutes N"));
    let full_size = std::env::args().any(|a| a == "--full-size");
    let (dir, which) = if full_size {
        full_size_dir()
    } else {
        (tiny_dir(), "the committed tiny weights".into())
    };
    let model = codec(&dir);
    let per_step = Latency::Standard.frames_per_step();
    let processor = || Box::new(ModelProcessor::new(&model, 2, 3, per_step).unwrap());
    let setup = |detect_fast_host| EngineSetup {
        host_rate: RATE,
        channels: 2,
        max_block: BLOCK,
        detect_fast_host,
    };
    let mut subject = Engine::start(setup(false), processor()).unwrap();
    let mut reference = Engine::start(setup(false), processor()).unwrap();
    let (frame, model_latency) = frame_and_latency(ModelKind::Codec);
    let passthrough = Passthrough::new(frame, per_step, model_latency, 2);
    let mut dry = Engine::start(setup(false), Box::new(passthrough)).unwrap();
    let latency = subject.latency();
    assert_eq!(dry.latency(), latency);
    println!(
        "soak: codec with {which}, stereo {RATE} Hz, blocks of {BLOCK}, {minutes} min in real time, \
         latency {latency} samples, bandwidth moved every {AUTOMATION_BLOCKS} blocks"
    );

    let mut signal = Signal::new();
    let mut input = [vec![0f32; BLOCK], vec![0f32; BLOCK]];
    let mut history = vec![[0f32; 2]; latency + BLOCK];
    let mut bufs = [
        [vec![0f32; BLOCK], vec![0f32; BLOCK]],
        [vec![0f32; BLOCK], vec![0f32; BLOCK]],
        [vec![0f32; BLOCK], vec![0f32; BLOCK]],
    ];
    let (mut model_diffs, mut dry_diffs) = (0u64, 0u64);
    let mut rss_after_first_minute = None;
    let blocks_per_minute = 60 * RATE as usize / BLOCK;
    let total = minutes as usize * blocks_per_minute;
    let start = Instant::now();
    let (mut cpu_mark, mut wall_mark) = (cpu_seconds(), 0.0);
    for k in 0..total {
        signal.fill(&mut input);
        for buf in &mut bufs {
            buf[0].copy_from_slice(&input[0]);
            buf[1].copy_from_slice(&input[1]);
        }
        if k % AUTOMATION_BLOCKS == 0 {
            let index = (k / AUTOMATION_BLOCKS) % 4;
            subject.set_bandwidth(index, 100);
            reference.set_bandwidth(index, 100);
        }
        let [wet, offline, dry_out] = &mut bufs;
        let [l, r] = wet;
        subject.process(&mut [l, r], false, || (1.0, 1.0));
        let [l, r] = dry_out;
        dry.process(&mut [l, r], false, || (0.0, 1.0));
        let [l, r] = offline;
        reference.process(&mut [l, r], true, || (1.0, 1.0));

        for n in 0..BLOCK {
            let at = k * BLOCK + n;
            for c in 0..2 {
                model_diffs += u64::from(bufs[0][c][n] != bufs[1][c][n]);
                let expected = if at >= latency {
                    history[(at - latency) % history.len()][c]
                } else {
                    0.0
                };
                dry_diffs += u64::from(bufs[2][c][n] != expected);
            }
            let slot = at % history.len();
            history[slot] = [input[0][n], input[1][n]];
        }

        let due = Duration::from_secs_f64(((k + 1) * BLOCK) as f64 / f64::from(RATE));
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        if (k + 1) % blocks_per_minute == 0 {
            let (cpu, wall) = (cpu_seconds(), start.elapsed().as_secs_f64());
            let rss = rss_mb();
            println!(
                "minute {:>3}: underruns {}, samples differing from the offline render {}, dry \
                 path off by {} samples, CPU {:.1} % of one core, RSS {rss:.1} MB",
                (k + 1) / blocks_per_minute,
                subject.underruns() + dry.underruns(),
                model_diffs,
                dry_diffs,
                100.0 * (cpu - cpu_mark) / (wall - wall_mark),
            );
            (cpu_mark, wall_mark) = (cpu, wall);
            rss_after_first_minute.get_or_insert(rss);
        }
    }
    let growth = rss_mb() - rss_after_first_minute.unwrap_or_else(rss_mb);
    let underruns = subject.underruns() + dry.underruns();
    println!(
        "soak done: {minutes} min, {underruns} underruns, {model_diffs} samples differing from \
         the offline render, dry path off by {dry_diffs} samples, peak RSS {:.1} MB, RSS growth \
         after the first minute {growth:.2} MB",
        memory_mb("VmHWM:")
    );
    if underruns > 0 || model_diffs > 0 || dry_diffs > 0 || growth >= 1.0 {
        std::process::exit(1);
    }
}

/// The soak's input: noise and two tones, different per channel, generated block by block.
struct Signal {
    state: u32,
    at: usize,
}

impl Signal {
    fn new() -> Self {
        Self {
            state: 0x9e37_79b9,
            at: 0,
        }
    }

    /// The next block of both channels (interleaved generation: one noise stream for both).
    #[allow(clippy::needless_range_loop)]
    fn fill(&mut self, block: &mut [Vec<f32>; 2]) {
        for n in 0..BLOCK {
            let t = (self.at + n) as f32 / RATE as f32;
            for (c, freq) in [220.0f32, 330.0].into_iter().enumerate() {
                self.state ^= self.state << 13;
                self.state ^= self.state >> 17;
                self.state ^= self.state << 5;
                let noise = self.state as f32 / u32::MAX as f32 - 0.5;
                block[c][n] = 0.3 * (t * freq * std::f32::consts::TAU).sin() + 0.1 * noise;
            }
        }
        self.at += BLOCK;
    }
}

//! What the CLAP and VST3 host tests share: where the bundles are, the [`Host`] both test
//! hosts implement, test signals, the checks on the plugin's output and the scenarios
//! ([`scenarios`], declared as tests for a host by `host_scenarios!`). The bundles come from
//! `cargo xtask test`, which builds them with `assert_process_allocs` and sets
//! `VOCOS_BUNDLE_DIR`.

#![allow(dead_code)] // each host test uses its own subset

pub mod scenarios;
mod signals;

use std::path::PathBuf;

pub use signals::*;

/// Serialises the tests of one binary: tests that play in real time must not compete for the
/// two cores with others rendering flat out, or the plugin's worker is late (as it would be in
/// a DAW on an overloaded machine) and the output has counted underruns.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Host sample rates at which the delay is measured.
pub const RATES: [u32; 3] = [24_000, 44_100, 48_000];
/// Largest block the host test announces.
pub const MAX_BLOCK: usize = 512;
/// Block sizes the host test cycles through (all at most [`MAX_BLOCK`]).
pub const BLOCK_PATTERN: [usize; 6] = [512, 1, 64, 511, 100, 7];

pub fn bundle_dir() -> PathBuf {
    let dir = std::env::var_os("VOCOS_BUNDLE_DIR")
        .expect("VOCOS_BUNDLE_DIR is not set: run the host tests with `cargo xtask test`");
    PathBuf::from(dir)
}

/// The CLAP bundle (on Linux a single shared library).
pub fn clap_path() -> PathBuf {
    bundle_dir().join("vocos_plugin.clap")
}

/// The shared library inside the VST3 bundle on Linux.
pub fn vst3_library_path() -> PathBuf {
    bundle_dir()
        .join("vocos_plugin.vst3")
        .join("Contents")
        .join(format!("{}-linux", std::env::consts::ARCH))
        .join("vocos_plugin.so")
}

/// What a test host reports about its transport with a block: playing or stopped, and the
/// timeline position of the block's first sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Playhead {
    pub playing: bool,
    pub position: i64,
}

/// A stretch of a render in which the host's transport does one thing: stays stopped at a
/// position, plays on from one, or (`None`) is not reported at all.
#[derive(Clone, Copy, Debug)]
pub struct Stretch {
    pub len: usize,
    pub playhead: Option<Playhead>,
}

impl Stretch {
    pub fn untimed(len: usize) -> Self {
        Self {
            len,
            playhead: None,
        }
    }

    pub fn stopped(len: usize, at: i64) -> Self {
        Self {
            len,
            playhead: Some(Playhead {
                playing: false,
                position: at,
            }),
        }
    }

    pub fn playing(len: usize, from: i64) -> Self {
        Self {
            len,
            playhead: Some(Playhead {
                playing: true,
                position: from,
            }),
        }
    }
}

/// A parameter value change at a sample position of the processed signal, with the value the
/// host sends (normalized its own way: see [`Host::stepped`]).
#[derive(Clone, Copy, Debug)]
pub struct Change {
    pub at: usize,
    pub param: u32,
    pub value: f64,
}

/// How a test host runs a render.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Real-time processing, one block per block duration, as a host playing.
    RealTime,
    /// Real-time processing mode, but blocks as fast as the plugin returns: a host bouncing
    /// without saying so.
    FlatOut,
    /// Offline processing mode, blocks as fast as the plugin returns.
    Offline,
}

/// One render: `input` (one vector per channel, as many as selected) at `rate` with the
/// parameter `changes`, the transport of `timeline` (whose lengths add up to the input's) and
/// the host's processing `mode`.
#[derive(Clone, Copy)]
pub struct Take<'a> {
    pub rate: u32,
    pub input: &'a [Vec<f32>],
    pub changes: &'a [Change],
    pub mode: Mode,
    pub timeline: &'a [Stretch],
}

/// A render's output (one vector per channel) and the latency the plugin reported.
pub type Rendered = (Vec<Vec<f32>>, usize);

/// A test host holding one instance of the plugin from its bundle: what the scenarios need of
/// the CLAP and the VST3 host alike.
pub trait Host: Sized {
    /// Names the host in messages.
    const NAME: &'static str;

    /// A fresh instance, stereo.
    fn load() -> Self;

    /// Channel counts of the main input and output.
    fn channels(&mut self) -> (u32, u32);

    /// Selects `channels` in and out (1 or 2); checked through [`Self::channels`].
    fn select_channels(&mut self, channels: usize);

    /// The id of the parameter named `name`; panics if there is none.
    fn param(&mut self, name: &str) -> u32;

    /// The parameter's current value, as the host sees it.
    fn param_value(&mut self, id: u32) -> f64;

    /// The value the host sends for `step` of a stepped parameter with steps `0..=last`.
    fn stepped(step: usize, last: usize) -> f64;

    /// The saved state, parsed (nice-plug's JSON).
    fn save(&mut self) -> serde_json::Value;

    /// Loads a saved state, as opening a project would.
    fn restore(&mut self, state: &serde_json::Value);

    /// Activates at the take's rate, processes its input block by block with its parameter
    /// changes and transport, deactivates; returns the output and the latency reported while
    /// active.
    fn render_take(&mut self, take: Take) -> Rendered;

    /// Renders `input` with a host that reports no transport.
    fn render(
        &mut self,
        rate: u32,
        input: &[Vec<f32>],
        changes: &[Change],
        mode: Mode,
    ) -> Rendered {
        let timeline = [Stretch::untimed(input[0].len())];
        self.render_take(Take {
            rate,
            input,
            changes,
            mode,
            timeline: &timeline,
        })
    }

    /// Changes the saved state and restores it, as loading an edited project would.
    fn edit_state(&mut self, edit: impl FnOnce(&mut serde_json::Value)) {
        let mut state = self.save();
        edit(&mut state);
        self.restore(&state);
    }

    /// A fresh instance with the tiny models chosen as its model folder, as a restored
    /// project would have it.
    fn with_tiny_models() -> Self {
        let mut plugin = Self::load();
        let folder = tiny_model_folder().display().to_string();
        plugin.edit_state(|state| {
            state["fields"]["model-path"] =
                serde_json::Value::String(serde_json::to_string(&folder).unwrap());
        });
        plugin
    }
}

/// Declares the [`scenarios`] as tests for a [`Host`] type, each run alone (see [`serial`]).
#[allow(unused_macros)] // many_instances uses none
macro_rules! host_scenarios {
    ($host:ty) => {
        host_scenarios!(
            $host:
            stereo_by_default_and_mono,
            measured_delay_equals_reported_latency,
            offline_and_faster_than_real_time_rendering_equal_real_time_playback,
            parameter_changes_change_gain_mix_and_bandwidth,
            state_round_trip_keeps_parameters_and_model_location,
            three_activation_cycles_give_the_same_latency_and_output,
            codec_output_equals_reference_delayed_by_the_reported_latency,
            low_cpu_setting_reports_its_latency_and_keeps_the_output,
            bandwidth_automation_lands_on_its_frame,
            mel_mode_output_equals_reference_delayed_by_the_reported_latency,
            codec_bounce_equals_real_time_playback,
            output_at_48_khz_is_finite_and_aligned_with_24_khz,
            a_stalled_worker_plays_silence_then_recovers_with_the_same_latency,
            same_start_same_sound,
            playback_from_a_frame_boundary_equals_the_reference,
            recovers_exactly_after_broken_input,
        );
    };
    ($host:ty: $($scenario:ident),+ $(,)?) => {
        $(
            #[test]
            fn $scenario() {
                let _serial = serial();
                crate::host_common::scenarios::$scenario::<$host>();
            }
        )+
    };
}

/// The blocks of a render over `timeline`: each block's length and what the host reports with
/// it. Blocks cycle through [`BLOCK_PATTERN`] within each stretch.
pub fn timeline_blocks(timeline: &[Stretch]) -> Vec<(usize, Option<Playhead>)> {
    let mut out = Vec::new();
    for stretch in timeline {
        let mut offset = 0;
        for b in blocks(stretch.len) {
            let playhead = stretch.playhead.map(|p| Playhead {
                position: p.position + if p.playing { offset as i64 } else { 0 },
                ..p
            });
            out.push((b, playhead));
            offset += b;
        }
    }
    out
}

/// One block of a [`Take`] for a test host to process.
pub struct Block<'a> {
    /// Where the block starts in the take.
    pub pos: usize,
    /// Samples per channel.
    pub len: usize,
    /// What the host reports about its transport with the block.
    pub playhead: Option<Playhead>,
    /// The parameter changes that fall into the block, at their offset in it.
    pub changes: Vec<(usize, Change)>,
    /// One buffer of [`MAX_BLOCK`] samples per channel, the first `len` the block's input.
    pub input: &'a mut [Vec<f32>],
    /// Likewise for the output, whose first `len` samples the host fills.
    pub output: &'a mut [Vec<f32>],
}

/// Feeds `take` to `process` block by block (see [`timeline_blocks`]), in real time at the
/// pace of the audio clock with [`Mode::RealTime`], else as fast as it returns; returns the
/// output, as long as the input.
pub fn process_blocks(take: &Take, mut process: impl FnMut(Block)) -> Vec<Vec<f32>> {
    let channels = take.input.len();
    let len = take.input[0].len();
    assert!(take.input.iter().all(|c| c.len() == len), "channel lengths");
    assert_eq!(take.timeline.iter().map(|s| s.len).sum::<usize>(), len);
    let mut output = vec![vec![0f32; len]; channels];
    let mut in_block = vec![vec![0f32; MAX_BLOCK]; channels];
    let mut out_block = vec![vec![0f32; MAX_BLOCK]; channels];
    let start = std::time::Instant::now();
    let mut pos = 0;
    for (b, playhead) in timeline_blocks(take.timeline) {
        for (block, input) in in_block.iter_mut().zip(take.input) {
            block[..b].copy_from_slice(&input[pos..pos + b]);
        }
        let changes = take
            .changes
            .iter()
            .filter(|c| (pos..pos + b).contains(&c.at))
            .map(|c| (c.at - pos, *c))
            .collect();
        process(Block {
            pos,
            len: b,
            playhead,
            changes,
            input: &mut in_block,
            output: &mut out_block,
        });
        for (output, block) in output.iter_mut().zip(&out_block) {
            output[pos..pos + b].copy_from_slice(&block[..b]);
        }
        pos += b;
        if take.mode == Mode::RealTime {
            let due = std::time::Duration::from_secs_f64(pos as f64 / f64::from(take.rate));
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    output
}

/// Block sizes covering `total` samples, cycling through [`BLOCK_PATTERN`].
pub fn blocks(total: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut done = 0;
    for i in 0.. {
        if done == total {
            break;
        }
        let b = BLOCK_PATTERN[i % BLOCK_PATTERN.len()].min(total - done);
        out.push(b);
        done += b;
    }
    out
}

/// A signal of `len` zeros with unit impulses at `at`.
pub fn impulses(len: usize, at: &[usize]) -> Vec<f32> {
    let mut x = vec![0.0; len];
    at.iter().for_each(|&a| x[a] = 1.0);
    x
}

/// The delay (in samples) of each impulse of `input` found in `output`: the output peak within
/// two latencies after the impulse.
pub fn impulse_delays(output: &[f32], at: &[usize], latency: usize) -> Vec<usize> {
    at.iter()
        .map(|&a| peak_in(output, a, (a + 2 * latency + 2).min(output.len())) - a)
        .collect()
}

/// A model folder laid out as the hub downloads, pointing at the committed tiny random-weight
/// fixtures (made once per test process; the tests run in parallel).
pub fn tiny_model_folder() -> std::path::PathBuf {
    static FOLDER: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    FOLDER.get_or_init(make_tiny_model_folder).clone()
}

fn make_tiny_model_folder() -> std::path::PathBuf {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../model/tests/fixtures/tiny")
        .canonicalize()
        .unwrap();
    let folder = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("tiny-models");
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).unwrap();
    for (name, fixture) in [
        ("encodec_24khz", "encodec_th"),
        ("vocos-encodec-24khz", "vocos_encodec"),
        ("vocos-mel-24khz", "vocos_mel"),
    ] {
        std::os::unix::fs::symlink(fixtures.join(fixture), folder.join(name)).unwrap();
    }
    folder
}

/// A float tensor of the tiny EnCodec goldens, flattened.
pub fn golden(name: &str) -> Vec<f32> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../model/tests/fixtures/tiny/goldens_encodec.safetensors");
    let tensors = candle_core::safetensors::load(path, &candle_core::Device::Cpu).unwrap();
    tensors[name]
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

/// Equal outputs (channel count, lengths and every sample, at least one), or a panic naming
/// the first difference.
pub fn assert_same(a: &[Vec<f32>], b: &[Vec<f32>], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: channel count");
    assert!(!a.is_empty(), "{what}: no channels to compare");
    for (c, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(x.len(), y.len(), "{what}: length of channel {c}");
        assert!(!x.is_empty(), "{what}: channel {c} is empty");
        if let Some(n) = x.iter().zip(y).position(|(p, q)| p != q) {
            let first = |v: &[f32]| v.iter().position(|&s| s != 0.0);
            panic!(
                "{what}: channel {c} differs from sample {n} ({} vs {}); first sound at {:?} vs {:?}",
                x[n],
                y[n],
                first(x),
                first(y)
            );
        }
    }
}

/// The bandwidth automation both host tests send at 24 kHz, as (sample, bandwidth index): 6 kbps
/// (id 2, the default) until sample 8_000 (frame 25), then 1.5 kbps, then 12 kbps from sample
/// 16_100 (frame 50).
pub const AUTOMATION: [(usize, usize); 2] = [(8_000, 0), (16_100, 3)];

/// The offline reference for [`AUTOMATION`] on `audio`: the tiny models with those per-frame
/// bandwidth ids.
pub fn automation_reference(audio: &[f32]) -> Vec<f32> {
    use vocos_model::codec_stream::offline_with_frame_ids;
    use vocos_model::encodec::Encodec;
    use vocos_model::vocos::Vocos;
    let folder = tiny_model_folder();
    let encodec = Encodec::load(&folder.join("encodec_24khz")).unwrap();
    let vocos = Vocos::load(&folder.join("vocos-encodec-24khz")).unwrap();
    let ids: Vec<usize> = (0..audio.len().div_ceil(320))
        .map(|t| {
            AUTOMATION
                .iter()
                .rev()
                .find(|(at, _)| t >= at / 320)
                .map_or(2, |&(_, id)| id)
        })
        .collect();
    offline_with_frame_ids(&encodec, &vocos, audio, &ids).unwrap()
}

/// The largest `|output[latency + n] - reference[n]|` over `n < compared` (at least one
/// sample, all of them within both signals), over the reference's peak (not zero).
pub fn relative_error(output: &[f32], latency: usize, reference: &[f32], compared: usize) -> f32 {
    assert!(compared > 0, "nothing compared");
    assert!(
        compared <= reference.len() && latency + compared <= output.len(),
        "{compared} samples from {latency} do not fit the output ({}) and the reference ({})",
        output.len(),
        reference.len()
    );
    let peak = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(peak > 0.0, "a silent reference");
    (0..compared)
        .map(|n| (output[latency + n] - reference[n]).abs())
        .fold(0f32, f32::max)
        / peak
}

/// While alive, workers started in this process stall once for 500 ms before their 33rd frame
/// (debug builds of the plugin honour `VOCOS_TEST_STALL_WORKER`).
pub struct StallWorker;

impl StallWorker {
    pub fn set() -> Self {
        // SAFETY: the tests of a binary run one at a time (`serial`), and nothing else reads
        // the environment while it changes.
        unsafe { std::env::set_var("VOCOS_TEST_STALL_WORKER", "32:500") };
        StallWorker
    }
}

impl Drop for StallWorker {
    fn drop(&mut self) {
        // SAFETY: as in `set`.
        unsafe { std::env::remove_var("VOCOS_TEST_STALL_WORKER") };
    }
}

/// `output` is `input` delayed by `latency` except for one run of silence of 100 to 500 ms
/// (the blocks a stalled worker was late for) that ends at least a second before the end: the
/// audio thread did not wait for the worker (or there would be no gap), and the latency did not
/// change after it.
pub fn assert_one_silent_gap_then_recovery(
    output: &[Vec<f32>],
    input: &[Vec<f32>],
    latency: usize,
    rate: u32,
    host: &str,
) {
    let rate = rate as usize;
    assert_eq!(output.len(), input.len(), "{host}: channel count");
    assert!(!output.is_empty(), "{host}: no channels");
    for (c, (output, input)) in output.iter().zip(input).enumerate() {
        assert_eq!(output.len(), input.len(), "{host}, channel {c}: length");
        let expected = |n: usize| if n < latency { 0.0 } else { input[n - latency] };
        let wrong: Vec<usize> = (0..output.len())
            .filter(|&n| output[n] != expected(n))
            .collect();
        let (Some(&first), Some(&last)) = (wrong.first(), wrong.last()) else {
            panic!("{host}, channel {c}: no gap, the audio thread waited for the worker");
        };
        println!(
            "{host} stalled worker, channel {c}: samples {first}..={last} silent ({} ms), \
             exact before and after",
            (last + 1 - first) * 1000 / rate
        );
        assert!(
            wrong.iter().all(|&n| output[n] == 0.0),
            "{host}, channel {c}: wrong, not silent"
        );
        assert_eq!(
            wrong.len(),
            last + 1 - first,
            "{host}, channel {c}: more than one gap"
        );
        assert!(
            (rate / 10..rate / 2).contains(&wrong.len()),
            "{host}, channel {c}: gap of {} samples",
            wrong.len()
        );
        assert!(
            last < output.len() - rate,
            "{host}, channel {c}: no recovery"
        );
    }
}

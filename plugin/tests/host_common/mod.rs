//! What the CLAP and VST3 host tests share: where the bundles are, test signals, and the
//! checks on the plugin's output. The bundles come from `cargo xtask test`, which builds them
//! with `assert_process_allocs` and sets `VOCOS_BUNDLE_DIR`.

#![allow(dead_code)] // each host test uses its own subset

use std::path::PathBuf;

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

/// Deterministic white noise in [-0.5, 0.5).
pub fn noise(len: usize, seed: u32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(747_796_405).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32) - 0.5
        })
        .collect()
}

/// A signal of `len` zeros with unit impulses at `at`.
pub fn impulses(len: usize, at: &[usize]) -> Vec<f32> {
    let mut x = vec![0.0; len];
    at.iter().for_each(|&a| x[a] = 1.0);
    x
}

/// Index of the largest magnitude in `x[from..to]`, as an index into `x`.
pub fn peak_in(x: &[f32], from: usize, to: usize) -> usize {
    from + (0..to - from)
        .max_by(|&a, &b| x[from + a].abs().total_cmp(&x[from + b].abs()))
        .unwrap()
}

/// The delay (in samples) of each impulse of `input` found in `output`: the output peak within
/// two latencies after the impulse.
pub fn impulse_delays(output: &[f32], at: &[usize], latency: usize) -> Vec<usize> {
    at.iter()
        .map(|&a| peak_in(output, a, (a + 2 * latency + 2).min(output.len())) - a)
        .collect()
}

/// `output` is `input * gain` delayed by exactly `delay` samples, with silence before.
pub fn assert_delayed(output: &[f32], input: &[f32], delay: usize, gain: f32, what: &str) {
    assert_eq!(output.len(), input.len(), "{what}: length");
    let head = delay.min(output.len());
    if let Some(n) = output[..head].iter().position(|&s| s != 0.0) {
        panic!(
            "{what}: sample {n} is {} before the latency {delay}",
            output[n]
        );
    }
    for n in head..output.len() {
        let expected = input[n - delay] * gain;
        assert!(
            (output[n] - expected).abs() <= 1e-6 * expected.abs().max(1.0),
            "{what}: sample {n} is {}, expected {expected} (input delayed by {delay})",
            output[n]
        );
    }
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

/// Equal outputs (channel count, lengths and every sample), or a panic naming the first
/// difference.
pub fn assert_same(a: &[Vec<f32>], b: &[Vec<f32>], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: channel count");
    for (c, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(x.len(), y.len(), "{what}: length of channel {c}");
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

/// The largest `|output[latency + n] - reference[n]|` over `n < compared`, over the
/// reference's peak.
pub fn relative_error(output: &[f32], latency: usize, reference: &[f32], compared: usize) -> f32 {
    let peak = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
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
    for (c, (output, input)) in output.iter().zip(input).enumerate() {
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

/// A host test's render with the tiny models loaded: a fresh plugin instance activated at the
/// rate, `input` (one vector per channel) processed over the timeline in real time (`true`) or
/// offline; returns the output and the reported latency.
pub type RenderTimeline<'a> =
    dyn FnMut(u32, &[Vec<f32>], &[Stretch], bool) -> (Vec<Vec<f32>>, usize) + 'a;

/// The tiny codec's golden input with room after it for the model's lookahead to play out.
fn golden_audio_with_tail() -> Vec<f32> {
    let mut audio = golden("audio");
    audio.resize(audio.len() + 15_000, 0.0);
    audio
}

/// The scenarios written once for every host: `$render` renders with the tiny models (a
/// [`RenderTimeline`]), `$host` names the host in messages.
#[allow(unused_macros)] // many_instances uses none
macro_rules! shared_scenarios {
    ($render:path, $host:literal) => {
        /// Playback from the same position sounds the same however long the transport was
        /// stopped before, and again after a loop jump (24 and 48 kHz).
        #[test]
        fn same_start_same_sound() {
            let _serial = serial();
            for rate in [24_000, 48_000] {
                check_same_start_same_sound(&mut $render, rate, $host);
            }
        }

        #[test]
        fn playback_from_a_frame_boundary_equals_the_reference() {
            let _serial = serial();
            check_playback_from_a_frame_boundary_equals_the_reference(&mut $render, $host);
        }

        #[test]
        fn recovers_exactly_after_broken_input() {
            let _serial = serial();
            check_recovery_from_broken_input(&mut $render, $host);
        }
    };
}

/// Same start, same sound: the audio played from timeline position `from` gives the same
/// output, sample for sample, after 0.3 s of processing with the transport stopped (in real
/// time) and after 2.7 s (rendered offline), whatever the plugin heard while stopped; and a loop
/// jump back to `from` plays it again identically.
pub fn check_same_start_same_sound(render: &mut RenderTimeline, rate: u32, host: &str) {
    let audio = golden_audio_with_tail();
    let from = 12_345;
    let mut output_from_start = |stopped_seconds: f64, seed: u32, real_time: bool| {
        let stopped = (stopped_seconds * f64::from(rate)) as usize;
        let input: Vec<Vec<f32>> = (0..2)
            .map(|c| {
                let mut x = noise(stopped, seed + c);
                x.extend_from_slice(&audio);
                x.extend_from_slice(&audio);
                x
            })
            .collect();
        let timeline = [
            Stretch::stopped(stopped, 0),
            Stretch::playing(audio.len(), from),
            Stretch::playing(audio.len(), from),
        ];
        let (mut output, _) = render(rate, &input, &timeline, real_time);
        output.iter_mut().for_each(|c| drop(c.drain(..stopped)));
        output
    };
    let short = output_from_start(0.3, 1, true);
    let long = output_from_start(2.7, 7, false);
    assert_same(
        &short,
        &long,
        &format!("{host} at {rate} Hz: 0.3 s vs 2.7 s stopped"),
    );
    let (first, second): (Vec<Vec<f32>>, Vec<Vec<f32>>) = short
        .iter()
        .map(|c| (c[..audio.len()].to_vec(), c[audio.len()..].to_vec()))
        .unzip();
    assert_same(&first, &second, &format!("{host} at {rate} Hz: loop pass"));
    assert!(
        first.iter().flatten().any(|&s| s.abs() > 1e-3),
        "{host}: the model played nothing"
    );
    println!(
        "{host} at {rate} Hz: playback from {from} identical after 0.3 s and 2.7 s stopped, and after a loop jump"
    );
}

/// At 24 kHz, playback started at a frame boundary of the timeline (`p = 50 x 320`) after half
/// a second of stopped transport gives the reference `Vocos.forward(audio)` of the audio from
/// `p`, delayed by the reported latency, within 1e-4 of the reference peak.
pub fn check_playback_from_a_frame_boundary_equals_the_reference(
    render: &mut RenderTimeline,
    host: &str,
) {
    let rate = 24_000;
    let audio = golden_audio_with_tail();
    let reference = golden("audio_out_2");
    let stopped = 12_000;
    let input: Vec<Vec<f32>> = (0..2)
        .map(|c| {
            let mut x = noise(stopped, 3 + c);
            x.extend_from_slice(&audio);
            x
        })
        .collect();
    let timeline = [
        Stretch::stopped(stopped, 0),
        Stretch::playing(audio.len(), 50 * 320),
    ];
    let (output, latency) = render(rate, &input, &timeline, false);
    // Samples that do not depend on the end of the clip (28.5 frames of lookahead).
    let compared = golden("audio").len() - 9_440;
    for (c, channel) in output.iter().enumerate() {
        assert_eq!(channel.len(), input[c].len(), "{host}: length");
        let error = relative_error(&channel[stopped..], latency, &reference, compared);
        println!("{host} playback from frame 50, channel {c}: max |error| / peak = {error:.3e}");
        assert!(error <= 1e-4, "{host}, channel {c}: error {error}");
    }
}

/// Hostile audio while playing at 24 kHz: noise, full-scale DC and square waves, denormals, then
/// blocks of NaN, +Inf, -Inf and 1e30, then the golden audio from a frame boundary of the
/// timeline. The output is finite throughout, and from the first clean block on (the bound:
/// no frame later) the plugin plays the reference `Vocos.forward(audio)` delayed by the
/// reported latency, within 1e-4 of its peak: the model restarted there and kept nothing of
/// what came before.
pub fn check_recovery_from_broken_input(render: &mut RenderTimeline, host: &str) {
    let rate = 24_000;
    let square = |n: usize| {
        if (n / 120).is_multiple_of(2) {
            1.0
        } else {
            -1.0
        }
    };
    let stretches: Vec<Vec<f32>> = vec![
        noise(38 * 320, 5),
        vec![1.0; 4_800],
        (0..4_800).map(square).collect(),
        noise(4_800, 6).iter().map(|s| s * 1e-38).collect(),
        vec![f32::NAN; 960],
        vec![f32::INFINITY; 960],
        vec![f32::NEG_INFINITY; 960],
        vec![1e30; 960],
        golden_audio_with_tail(),
    ];
    let mut timeline = Vec::new();
    let mut position = 0;
    for stretch in &stretches {
        timeline.push(Stretch::playing(stretch.len(), position as i64));
        position += stretch.len();
    }
    let clean_from = position - stretches[stretches.len() - 1].len();
    assert_eq!(clean_from % 320, 0, "the audio starts on the frame grid");
    let input: Vec<f32> = stretches.concat();
    let (output, latency) = render(rate, &[input.clone(), input], &timeline, false);
    let reference = golden("audio_out_2");
    let compared = golden("audio").len() - 9_440;
    for (c, channel) in output.iter().enumerate() {
        assert_eq!(channel.len(), position, "{host}: length");
        if let Some(n) = channel.iter().position(|s| !s.is_finite()) {
            panic!("{host}, channel {c}: sample {n} is {}", channel[n]);
        }
        assert!(
            channel[..clean_from].iter().any(|&s| s.abs() > 1e-3),
            "{host}: nothing played before the broken input"
        );
        let error = relative_error(&channel[clean_from..], latency, &reference, compared);
        println!(
            "{host} after NaN/Inf/1e30 input, channel {c}: max |error| / peak = {error:.3e} from \
             the first clean sample on"
        );
        assert!(error <= 1e-4, "{host}, channel {c}: error {error}");
    }
}

//! Engine tests with processors defined here: a pure delay of whole frames with a gain, a
//! bandwidth probe, a gate that holds the worker back, a slow identity, frame marks that show
//! where frames start on the host's timeline, and processors that fail or turn non-finite.

use std::time::Duration;

use super::*;

#[path = "../../tests/host_common/signals.rs"]
mod signals;

use signals::{assert_delayed, noise, peak};

const FRAME: usize = 320;

/// The timing of a test processor: `FRAME`-sample frames.
fn timing(frames_per_step: usize, latency: usize) -> Timing {
    Timing {
        frame: FRAME,
        frames_per_step,
        latency,
    }
}

/// Copies every input channel to its output.
fn copy(input: &[&[f32]], output: &mut [&mut [f32]]) {
    for (o, i) in output.iter_mut().zip(input) {
        o.copy_from_slice(i);
    }
}

/// Delays by whole frames and scales.
struct DelayFrames {
    frames: usize,
    gain: f32,
    history: Vec<Vec<f32>>,
}

impl DelayFrames {
    fn boxed(frames: usize, gain: f32) -> Box<Self> {
        Box::new(Self {
            frames,
            gain,
            history: vec![vec![0.0; FRAME * (frames + 1)]; 2],
        })
    }
}

impl StreamProcessor for DelayFrames {
    fn timing(&self) -> Timing {
        timing(1, FRAME * self.frames)
    }
    fn process_frames(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) -> Processed {
        for (c, (i, o)) in input.iter().zip(output.iter_mut()).enumerate() {
            let h = &mut self.history[c];
            h.copy_within(FRAME.., 0);
            let tail = h.len() - FRAME;
            h[tail..].copy_from_slice(i);
            for (o, s) in o.iter_mut().zip(&h[..FRAME]) {
                *o = s * self.gain;
            }
        }
        Ok(())
    }
    fn reset(&mut self) {
        self.history.iter_mut().for_each(|h| h.fill(0.0));
    }
}

/// Outputs the selected bandwidth index as a constant in every frame; takes `.1` frames per
/// step.
struct BandwidthProbe(usize, usize);

impl StreamProcessor for BandwidthProbe {
    fn timing(&self) -> Timing {
        timing(self.1, 0)
    }
    fn process_frames(&mut self, _: &[&[f32]], output: &mut [&mut [f32]]) -> Processed {
        output.iter_mut().for_each(|o| o.fill(self.0 as f32));
        Ok(())
    }
    fn set_bandwidth(&mut self, index: usize) {
        self.0 = index;
    }
    fn reset(&mut self) {}
}

/// A processor without latency or state to reset, `per_step` frames per step, whose output
/// `process` computes.
struct Stateless<F> {
    per_step: usize,
    process: F,
}

impl<F> Stateless<F>
where
    F: FnMut(&[&[f32]], &mut [&mut [f32]]) + Send + 'static,
{
    fn boxed(per_step: usize, process: F) -> Box<Self> {
        Box::new(Self { per_step, process })
    }
}

impl<F> StreamProcessor for Stateless<F>
where
    F: FnMut(&[&[f32]], &mut [&mut [f32]]) + Send + 'static,
{
    fn timing(&self) -> Timing {
        timing(self.per_step, 0)
    }
    fn process_frames(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) -> Processed {
        (self.process)(input, output);
        Ok(())
    }
    fn reset(&mut self) {}
}

/// How the test drives the audio side.
#[derive(Clone, Copy, Debug)]
enum Drive {
    /// Offline rendering: the engine waits for the worker.
    Wait,
    /// Real-time mode with a worker that keeps up: the test lets the worker finish before each
    /// block, and the engine must never underrun.
    KeepUp,
    /// Real-time mode, blocks as fast as the engine returns: a late worker underruns (unless
    /// the engine notices a fast host).
    NoWait,
}

/// Block sizes: fixed, or a varying pattern.
fn blocks(size: Option<usize>, total: usize) -> Vec<usize> {
    let pattern = [1, 64, 511, 4096, 7, 300, 2048, 33];
    let mut out = Vec::new();
    let mut done = 0;
    for i in 0.. {
        if done == total {
            break;
        }
        let b = size.unwrap_or(pattern[i % pattern.len()]).min(total - done);
        out.push(b);
        done += b;
    }
    out
}

fn engine(rate: u32, channels: usize, block: Option<usize>, p: Box<dyn StreamProcessor>) -> Engine {
    let setup = EngineSetup {
        host_rate: rate,
        channels,
        max_block: block.unwrap_or(4096),
        detect_fast_host: false,
    };
    Engine::start(setup, p).unwrap()
}

/// Processes `signal` (per channel) in place, block by block, with full wet mix.
fn drive(engine: &mut Engine, signal: &mut [Vec<f32>], block: Option<usize>, how: Drive) {
    let mut pos = 0;
    for b in blocks(block, signal[0].len()) {
        let mut slices: Vec<&mut [f32]> = signal.iter_mut().map(|c| &mut c[pos..pos + b]).collect();
        match how {
            Drive::Wait => engine.process(&mut slices, true, || (1.0, 1.0)),
            Drive::KeepUp => {
                engine.settle();
                engine.process(&mut slices, false, || (1.0, 1.0));
            }
            Drive::NoWait => engine.process(&mut slices, false, || (1.0, 1.0)),
        }
        pos += b;
    }
}

#[test]
fn at_24k_output_is_input_delayed_by_exactly_the_latency() {
    for channels in [1, 2] {
        for block in [Some(1), Some(64), Some(511), Some(4096), None] {
            for (frames, how) in [(0, Drive::Wait), (3, Drive::KeepUp)] {
                let mut e = engine(24_000, channels, block, DelayFrames::boxed(frames, 1.0));
                let latency = e.latency();
                assert_eq!(
                    latency,
                    frames * FRAME + 2 * block.unwrap_or(4096) + 2 * FRAME
                );
                let input: Vec<Vec<f32>> = (0..channels).map(|c| noise(20_000, c as u32)).collect();
                let mut signal = input.clone();
                drive(&mut e, &mut signal, block, how);
                for c in 0..channels {
                    let what = format!("{channels} ch, block {block:?}, {how:?}, channel {c}");
                    assert_delayed(&signal[c], &input[c], latency, 1.0, 0.0, &what);
                }
                assert_eq!(e.underruns(), 0);
            }
        }
    }
}

#[test]
fn at_other_rates_an_impulse_peaks_at_the_latency_within_one_sample() {
    for rate in [44_100, 48_000, 88_200, 96_000, 192_000] {
        for (block, how) in [
            (Some(1), Drive::Wait),
            (Some(511), Drive::KeepUp),
            (None, Drive::KeepUp),
        ] {
            let mut e = engine(rate, 2, block, DelayFrames::boxed(2, 1.0));
            let latency = e.latency();
            let len = latency + rate as usize / 2;
            let at = [1_000, 2_345];
            let input: Vec<Vec<f32>> = at
                .iter()
                .map(|&a| {
                    let mut x = vec![0.0; len];
                    x[a] = 1.0;
                    x
                })
                .collect();
            let mut signal = input;
            drive(&mut e, &mut signal, block, how);
            for c in 0..2 {
                let found = peak(&signal[c]) as i64;
                let expected = (at[c] + latency) as i64;
                assert!(
                    (found - expected).abs() <= 1,
                    "{rate} Hz, block {block:?}: peak at {found}, expected {expected}"
                );
                // Band-limited to 12 kHz, a unit impulse keeps about 24000 / rate of its height.
                let height = signal[c][found as usize];
                assert!(
                    height > 0.6 * 24_000.0 / rate as f32,
                    "{rate} Hz: peak {height}"
                );
            }
            assert_eq!(e.underruns(), 0, "{rate} Hz, {how:?}");
        }
    }
}

/// The engine starts at every rate the CLAP validator tries, odd ones included (1234.5678 Hz
/// reaches the plugin as 1235), and an impulse comes out at the reported latency.
#[test]
fn any_host_rate_works_with_its_latency() {
    for rate in [1_235, 8_000, 12_346, 22_050, 45_679, 123_457, 384_000] {
        let mut e = engine(rate, 1, Some(512), DelayFrames::boxed(1, 1.0));
        let latency = e.latency();
        let mut signal = vec![vec![0.0; latency + rate as usize / 4 + 1_000]];
        signal[0][1_000] = 1.0;
        drive(&mut e, &mut signal, Some(512), Drive::Wait);
        let found = peak(&signal[0]);
        assert!(
            found.abs_diff(1_000 + latency) <= 1,
            "{rate} Hz: peak at {found}, latency {latency}"
        );
        println!(
            "{rate} Hz: latency {latency} samples ({:.2} s)",
            latency as f64 / f64::from(rate)
        );
    }
}

#[test]
fn mix_blends_the_latency_compensated_dry_signal_and_gain_scales() {
    let input = noise(12_000, 7);
    let mut signal = [input.clone()];
    let mut e = engine(24_000, 1, Some(256), DelayFrames::boxed(1, 2.0));
    let latency = e.latency();
    let mut pos = 0;
    for b in blocks(Some(256), input.len()) {
        let mut slices = [&mut signal[0][pos..pos + b]];
        e.process(&mut slices, true, || (0.25, 0.5));
        pos += b;
    }
    for n in latency..input.len() {
        let x = input[n - latency];
        let expected = (0.25 * 2.0 * x + 0.75 * x) * 0.5;
        assert!((signal[0][n] - expected).abs() < 1e-6, "sample {n}");
    }
}

#[test]
fn no_drift_after_ten_minutes() {
    // 24 kHz: every sample exact after ten minutes of varying blocks.
    let len = 24_000 * 600;
    let input = noise(len, 3);
    let mut signal = vec![input.clone()];
    let mut e = engine(24_000, 1, None, DelayFrames::boxed(1, 1.0));
    drive(&mut e, &mut signal, None, Drive::Wait);
    let what = "ten minutes at 24 kHz";
    assert_delayed(&signal[0], &input, e.latency(), 1.0, 0.0, what);

    // 48 kHz: an impulse every minute still peaks at the latency.
    let rate = 48_000;
    let len = rate * 600;
    let mut signal = vec![vec![0.0; len]];
    let minutes: Vec<usize> = (0..10).map(|m| m * rate * 60 + 123).collect();
    minutes.iter().for_each(|&m| signal[0][m] = 1.0);
    let mut e = engine(rate as u32, 1, None, DelayFrames::boxed(1, 1.0));
    let latency = e.latency();
    drive(&mut e, &mut signal, None, Drive::Wait);
    for &m in &minutes {
        let window = &signal[0][m..m + 2 * latency];
        let found = m + peak(window);
        assert!(
            found.abs_diff(m + latency) <= 1,
            "impulse at {m}: peak at {found}"
        );
    }
}

#[test]
fn reset_starts_a_new_stream_without_leaking_the_old_one() {
    for rate in [24_000, 48_000] {
        let block = 512;
        let mut e = engine(rate, 1, Some(block), DelayFrames::boxed(2, 1.0));
        let latency = e.latency();
        let mut before = vec![noise(latency + 3 * block, 1)];
        drive(&mut e, &mut before, Some(block), Drive::Wait);
        e.reset();
        // Silence, then an impulse: nothing of the noise may come out, and the impulse comes
        // out one latency later.
        let mut after = vec![vec![0.0; 3 * latency]];
        after[0][latency] = 1.0;
        drive(&mut e, &mut after, Some(block), Drive::Wait);
        assert!(
            after[0][..latency].iter().all(|&s| s == 0.0),
            "{rate} Hz: old stream leaked"
        );
        assert!(
            peak(&after[0]).abs_diff(2 * latency) <= 1,
            "{rate} Hz: impulse misplaced"
        );
    }
}

/// A mono 24 kHz engine running an identity whose worker is held at each of its first `hold`
/// steps until the returned sender opens the gate.
fn gated_engine(block: usize, mut hold: usize) -> (Engine, crossbeam_channel::Sender<()>) {
    let (open, gate) = crossbeam_channel::unbounded::<()>();
    let processor = Stateless::boxed(1, move |input, output| {
        if hold > 0 {
            hold -= 1;
            let _ = gate.recv_timeout(Duration::from_secs(20));
        }
        copy(input, output);
    });
    (engine(24_000, 1, Some(block), processor), open)
}

#[test]
fn a_late_worker_plays_counted_underruns_and_realigns() {
    let block = 256;
    let (mut e, open) = gated_engine(block, 4);
    let latency = e.latency();
    // The worker is stuck: these blocks run out of output.
    let mut early = [noise(latency + 8 * block, 5)];
    drive(&mut e, &mut early, Some(block), Drive::NoWait);
    assert!(e.underruns() > 0, "a stuck worker must count underruns");
    assert!(
        early[0][latency..].iter().all(|&s| s == 0.0),
        "underruns play silence"
    );
    (0..4).for_each(|_| open.send(()).unwrap());
    // Once it catches up, the output is back in place, exactly.
    let input = noise(4 * latency, 6);
    let mut signal = vec![input.clone()];
    let before = e.underruns();
    drive(&mut e, &mut signal, Some(block), Drive::KeepUp);
    let late_tail = latency; // the first latency samples still carry the stuck span
    for n in late_tail + latency..input.len() {
        assert_eq!(
            signal[0][n],
            input[n - latency],
            "sample {n} after recovery"
        );
    }
    assert_eq!(
        e.underruns(),
        before,
        "no underruns once the worker keeps up"
    );
}

#[test]
fn a_stalled_worker_restarts_the_stream_instead_of_losing_input_silently() {
    let block = 4096;
    let (mut e, open) = gated_engine(block, 1);
    let latency = e.latency();
    // More than the input ring holds while the worker is stuck on its first frame.
    let mut flood = [noise(e.plan().input_frames + 4 * block, 8)];
    drive(&mut e, &mut flood, Some(block), Drive::NoWait);
    assert!(e.underruns() > 0);
    open.send(()).unwrap();
    e.settle();
    let mut signal = vec![vec![0.0; 3 * latency]];
    signal[0][latency] = 1.0;
    drive(&mut e, &mut signal, Some(block), Drive::Wait);
    assert_eq!(peak(&signal[0]), 2 * latency, "impulse after the restart");
}

/// Also with four frames per step: the step is split so the change lands on frame 10, which is
/// inside the step of frames 8..12.
#[test]
fn bandwidth_changes_land_on_the_frame_their_position_maps_to() {
    for per_step in [1, 4] {
        let block = 1000;
        let mut e = engine(
            24_000,
            1,
            Some(block),
            Box::new(BandwidthProbe(2, per_step)),
        );
        let latency = e.latency();
        assert_eq!(latency, 2 * block + 2 * per_step * FRAME);
        let mut signal = [vec![0.0; 8 * block]];
        let mut pos = 0;
        // At sample 3 * 1000 + 250 = 3250, in frame 10 (3200..3520).
        for b in blocks(Some(block), signal[0].len()) {
            if pos == 3 * block {
                e.set_bandwidth(3, 250);
            }
            e.process(&mut [&mut signal[0][pos..pos + b]], true, || (1.0, 1.0));
            pos += b;
        }
        let switch = signal[0].iter().position(|&s| s == 3.0).unwrap();
        assert_eq!(switch, 10 * FRAME + latency, "{per_step} frames per step");
        assert!(signal[0][latency..switch].iter().all(|&s| s == 2.0));
    }
}

#[test]
fn non_finite_input_becomes_silence_on_the_wet_path() {
    let mut e = engine(48_000, 2, Some(128), DelayFrames::boxed(0, 1.0));
    let mut signal = vec![noise(10_000, 1), noise(10_000, 2)];
    signal[0][500] = f32::NAN;
    signal[1][700] = f32::INFINITY;
    drive(&mut e, &mut signal, Some(128), Drive::Wait);
    assert!(signal.iter().flatten().all(|s| s.is_finite()));
}

#[test]
fn unsupported_setups_are_errors() {
    let start = |rate, channels| {
        let setup = EngineSetup {
            host_rate: rate,
            channels,
            max_block: 64,
            detect_fast_host: false,
        };
        Engine::start(
            setup,
            Box::new(Passthrough::new(FRAME, 1, 0, channels.max(1))),
        )
    };
    assert!(matches!(start(48_000, 3), Err(EngineError::Channels(3))));
    assert!(matches!(start(0, 2), Err(EngineError::Rate(0))));
    assert!(start(22_050, 1).is_ok(), "odd rates are resampled");
}

/// A host calling faster than real time in real-time mode (no offline flag) gets the complete,
/// exact output: the engine notices from the wall clock and waits for its worker.
#[test]
fn a_host_running_ahead_of_real_time_gets_complete_output() {
    let block = 512;
    let setup = EngineSetup {
        host_rate: 24_000,
        channels: 1,
        max_block: block,
        detect_fast_host: true,
    };
    // Identity that takes a millisecond per frame: slower than a host rendering flat out.
    let slow_identity = Stateless::boxed(1, |input, output| {
        std::thread::sleep(Duration::from_millis(1));
        copy(input, output);
    });
    let mut e = Engine::start(setup, slow_identity).unwrap();
    let input = noise(48_000, 9);
    let mut signal = [input.clone()];
    drive(&mut e, &mut signal, Some(block), Drive::NoWait);
    assert_eq!(e.underruns(), 0);
    let what = "flat-out real-time host";
    assert_delayed(&signal[0], &input, e.latency(), 1.0, 0.0, what);
}

/// A host playing in real time with irregular sub-blocks (the pattern 512, 1, 64, 511, 100, 7
/// at the pace of the audio clock) never makes the worker late when each frame takes a few
/// milliseconds: the buffering leaves it a whole callback period per frame. Runs the tiny
/// codec for one second.
#[test]
fn real_time_host_with_irregular_blocks_never_underruns_with_a_model() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/fixtures/tiny");
    let model = crate::models::LoadedModel::Codec {
        encodec: vocos_model::encodec::Encodec::load(&dir.join("encodec_th")).unwrap(),
        vocos: vocos_model::vocos::Vocos::load(&dir.join("vocos_encodec")).unwrap(),
    };
    let processor = crate::codec_processor::ModelProcessor::new(&model, 2, 2, 4).unwrap();
    let setup = EngineSetup {
        host_rate: 24_000,
        channels: 2,
        max_block: 512,
        detect_fast_host: true,
    };
    let mut e = Engine::start(setup, Box::new(processor)).unwrap();
    let mut signal = [noise(24_000, 1), noise(24_000, 2)];
    let start = std::time::Instant::now();
    let mut pos = 0;
    let pattern = [512, 1, 64, 511, 100, 7];
    for i in 0.. {
        if pos == 24_000 {
            break;
        }
        let b = pattern[i % pattern.len()].min(24_000 - pos);
        let (left, right) = signal.split_at_mut(1);
        e.process(
            &mut [&mut left[0][pos..pos + b], &mut right[0][pos..pos + b]],
            false,
            || (1.0, 1.0),
        );
        pos += b;
        let due = Duration::from_secs_f64(pos as f64 / 24_000.0);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    assert_eq!(e.underruns(), 0);
}

/// Adds a unit mark at the first sample of every frame (four per step): the output shows where
/// the frames started on the timeline.
fn frame_marks() -> Box<dyn StreamProcessor> {
    Stateless::boxed(4, |input, output| {
        for (o, i) in output.iter_mut().zip(input) {
            for (n, (o, i)) in o.iter_mut().zip(i.iter()).enumerate() {
                *o = i + if n % FRAME == 0 { 1.0 } else { 0.0 };
            }
        }
    })
}

/// A stretch of a test timeline: `len` host frames during which the host reports `playhead`
/// (advancing while it plays) at every block, or nothing.
#[derive(Clone, Copy)]
struct Stretch {
    len: usize,
    playhead: Option<Playhead>,
}

fn stopped(len: usize) -> Stretch {
    Stretch {
        len,
        playhead: Some(Playhead {
            playing: false,
            position: 0,
        }),
    }
}

fn playing(len: usize, from: i64) -> Stretch {
    Stretch {
        len,
        playhead: Some(Playhead {
            playing: true,
            position: from,
        }),
    }
}

/// Processes `signal` (mono) in place as offline rendering with full wet mix, block by block,
/// telling the engine the transport of each stretch before every block.
fn drive_timeline(engine: &mut Engine, signal: &mut [f32], block: usize, stretches: &[Stretch]) {
    assert_eq!(stretches.iter().map(|s| s.len).sum::<usize>(), signal.len());
    let mut pos = 0;
    for stretch in stretches {
        let mut offset = 0;
        for b in blocks(Some(block), stretch.len) {
            let playhead = stretch.playhead.map(|p| Playhead {
                position: p.position + if p.playing { offset as i64 } else { 0 },
                ..p
            });
            engine.follow_transport(playhead);
            engine.process(&mut [&mut signal[pos..pos + b]], true, || (1.0, 1.0));
            pos += b;
            offset += b;
        }
    }
}

/// Where playback starts, at positions off the grid, the frames of the restarted stream begin
/// at timeline positions that are multiples of the frame on the 24 kHz axis (320 samples at
/// 24 kHz, 640 at 48 kHz, 588 at 44.1 kHz), and the audio keeps its place: timeline position
/// `t` plays at the transport start plus the latency plus `t - p`.
#[test]
fn playback_frames_start_on_the_timeline_grid() {
    for (rate, frame_in_host) in [(24_000, 320), (48_000, 640), (44_100, 588)] {
        let block = 256;
        let mut e = engine(rate, 1, Some(block), frame_marks());
        let latency = e.latency();
        let (before, from) = (20 * block, 12_345);
        let mut signal = noise(before + latency + 40 * frame_in_host, 4);
        signal[before..].fill(0.0);
        let played = signal.len() - before;
        drive_timeline(
            &mut e,
            &mut signal,
            block,
            &[stopped(before), playing(played, from)],
        );
        // Timeline position of output sample n (from the transport start plus the latency on).
        let start = before + latency;
        let first_mark = (from as usize).div_ceil(frame_in_host) * frame_in_host;
        let marks: Vec<usize> = (first_mark..)
            .step_by(frame_in_host)
            .map(|t| start + t - from as usize)
            .take_while(|&n| n + 8 < signal.len())
            .collect();
        assert!(marks.len() > 20);
        for &n in &marks {
            let found = n - 8 + peak(&signal[n - 8..n + 8]);
            assert!(
                found.abs_diff(n) <= 1 && signal[found] > 0.4,
                "{rate} Hz: mark expected at {n}, peak {} at {found}",
                signal[found]
            );
        }
        if rate == 24_000 {
            let expected = |n: usize| if marks.contains(&n) { 1.0 } else { 0.0 };
            let last = marks[marks.len() - 1];
            assert!((start..=last).all(|n| signal[n] == expected(n)));
            assert!(
                signal[before..start - (from as usize % FRAME)]
                    .iter()
                    .all(|&s| s == 0.0),
                "silence until the leading frame's output"
            );
        }
    }
}

/// The same audio played from the same position gives the same output, sample for sample, how
/// long the plugin ran before with the transport stopped and whatever it heard meanwhile; and
/// a loop jump back to that position plays it again identically.
#[test]
fn the_same_audio_from_the_same_position_gives_the_same_output() {
    for rate in [24_000, 48_000] {
        let block = 128;
        let audio = noise(rate as usize, 9);
        let from = 4_321;
        let render = |before: usize, seed: u32| {
            let mut e = engine(rate, 1, Some(block), frame_marks());
            let mut signal = noise(before, seed);
            signal.extend_from_slice(&audio);
            signal.extend_from_slice(&audio);
            let stretches = [
                stopped(before),
                playing(audio.len(), from),
                playing(audio.len(), from),
            ];
            drive_timeline(&mut e, &mut signal, block, &stretches);
            signal.split_off(before)
        };
        let short = render(7 * block, 1);
        let long = render(400 * block, 2);
        assert!(
            short == long,
            "{rate} Hz: the time stopped changed the output"
        );
        let (first, second) = short.split_at(audio.len());
        assert!(first == second, "{rate} Hz: the loop's second pass differs");
        assert!(first.iter().any(|&s| s != 0.0));
    }
}

/// While the transport is stopped, or when the host reports no transport, the stream runs on
/// as if the transport were not followed.
#[test]
fn without_playback_the_stream_runs_on() {
    let block = 100;
    let len = 30_000;
    let run = |stretch: fn(usize) -> Stretch| {
        let mut e = engine(48_000, 1, Some(block), frame_marks());
        let mut signal = noise(len, 3);
        drive_timeline(&mut e, &mut signal, block, &[stretch(len)]);
        signal
    };
    let untracked = {
        let mut e = engine(48_000, 1, Some(block), frame_marks());
        let mut signal = vec![noise(len, 3)];
        drive(&mut e, &mut signal, Some(block), Drive::Wait);
        signal.remove(0)
    };
    assert!(run(stopped) == untracked, "stopped transport");
    let no_transport = |len| Stretch {
        len,
        playhead: None,
    };
    assert!(run(no_transport) == untracked, "no transport information");
}

/// Identity whose state turns non-finite for good at frame `poison`, as a model that took a
/// NaN would; a reset heals it.
struct Poisoned {
    frames: usize,
    poison: usize,
}

impl StreamProcessor for Poisoned {
    fn timing(&self) -> Timing {
        timing(1, 0)
    }
    fn process_frames(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) -> Processed {
        self.frames += input[0].len() / FRAME;
        for (o, i) in output.iter_mut().zip(input) {
            if self.frames > self.poison {
                o.fill(f32::NAN);
            } else {
                o.copy_from_slice(i);
            }
        }
        Ok(())
    }
    fn reset(&mut self) {
        self.frames = 0;
        self.poison = usize::MAX;
    }
}

/// A processor whose output turns non-finite is reset once: its NaN frame plays as silence and
/// the output is exact again from the next frame on.
#[test]
fn a_processor_with_non_finite_output_is_reset() {
    let poisoned = Box::new(Poisoned {
        frames: 0,
        poison: 20,
    });
    let mut e = engine(24_000, 1, Some(64), poisoned);
    let latency = e.latency();
    let input = noise(40 * FRAME, 8);
    let mut signal = vec![input.clone()];
    drive(&mut e, &mut signal, Some(64), Drive::Wait);
    assert_eq!(e.model_resets(), 1);
    let poisoned = latency + 20 * FRAME..latency + 21 * FRAME;
    assert_delayed_but_silent_in(&signal[0], &input, latency, poisoned, "NaN frame");
}

/// `output` is `input` delayed by exactly `delay` samples (silence before), except for the
/// samples in `silent` (after the delay, before the end), which are silence.
fn assert_delayed_but_silent_in(
    output: &[f32],
    input: &[f32],
    delay: usize,
    silent: std::ops::Range<usize>,
    what: &str,
) {
    assert!(
        delay <= silent.start && silent.start < silent.end && silent.end < output.len(),
        "{what}: silence {silent:?} not within the {} delayed samples",
        output.len()
    );
    let mut expected = vec![0.0; input.len()];
    expected[delay..].copy_from_slice(&input[..input.len() - delay.min(input.len())]);
    expected[silent].fill(0.0);
    assert_delayed(output, &expected, 0, 1.0, 0.0, what);
}

/// Identity whose frames `fail` (counted from each stream start) return a model error, as a
/// model whose computation fails would.
struct Failing {
    frames: usize,
    fail: std::ops::Range<usize>,
}

impl StreamProcessor for Failing {
    fn timing(&self) -> Timing {
        timing(1, 0)
    }
    fn process_frames(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) -> Processed {
        let frame = self.frames;
        self.frames += input[0].len() / FRAME;
        if self.fail.contains(&frame) {
            // What the output holds on an error is unspecified: the engine must not play it.
            output.iter_mut().for_each(|o| o.fill(0.5));
            return Err(vocos_model::error::ModelError::NonFiniteAudio { sample: frame }.into());
        }
        copy(input, output);
        Ok(())
    }
    fn reset(&mut self) {
        self.frames = 0;
    }
}

/// Failed steps play as silence and the rest stays exact; they are counted with their last
/// reason, and logged once per stream however many blocks they span.
#[test]
fn failed_steps_play_as_silence_and_are_reported_once_per_stream() {
    let (block, fail) = (64, 10..15);
    let processor = Failing {
        frames: 0,
        fail: fail.clone(),
    };
    let mut e = engine(24_000, 2, Some(block), Box::new(processor));
    let latency = e.latency();
    let failures = e.failures();
    assert_eq!((failures.steps(), failures.logged()), (0, 0));
    assert_eq!(failures.reason(), None);
    let silenced = latency + fail.start * FRAME..latency + fail.end * FRAME;
    for stream in 1..=2 {
        let input = vec![
            noise(30 * FRAME, 2 * stream),
            noise(30 * FRAME, 2 * stream + 1),
        ];
        let mut signal = input.clone();
        drive(&mut e, &mut signal, Some(block), Drive::Wait);
        assert_eq!(signal.len(), 2);
        for (c, (output, input)) in signal.iter().zip(&input).enumerate() {
            let what = format!("stream {stream}, channel {c}: failed frames play as silence");
            assert_delayed_but_silent_in(output, input, latency, silenced.clone(), &what);
        }
        // Five failed steps of one frame each, spanning 25 blocks: logged once.
        assert_eq!(failures.steps(), 5 * u64::from(stream));
        assert_eq!(failures.logged(), u64::from(stream));
        assert_eq!(
            failures.reason().as_deref(),
            Some("the model failed: audio sample 14 is not finite")
        );
        e.reset();
    }
}

/// Input that is not audio (NaN, infinities, 1e30) plays as silence on both paths, is counted,
/// and the first clean block after it restarts the stream: from there the output is the clean
/// input delayed by the latency, with nothing of the stream before.
#[test]
fn broken_input_is_silenced_and_the_stream_restarts_after_it() {
    let block = 100;
    let mut e = engine(24_000, 1, Some(block), DelayFrames::boxed(2, 1.0));
    let latency = e.latency();
    let clean_from = 14 * block;
    let mut input = noise(clean_from + 3 * latency, 2);
    let broken = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30];
    for (n, &bad) in broken.iter().enumerate() {
        input[(10 + n) * block + 3] = bad;
    }
    let mut signal = vec![input.clone()];
    drive(&mut e, &mut signal, Some(block), Drive::Wait);
    let output = &signal[0];
    assert_eq!(e.broken_input_blocks(), 4);
    assert!(output.iter().all(|s| s.is_finite()));
    // The restart drops what the old stream had not played: silence for a latency, then the
    // clean input delayed.
    let what = "after the broken input";
    assert_delayed(
        &output[clean_from..],
        &input[clean_from..],
        latency,
        1.0,
        0.0,
        what,
    );
}

/// A host whose playback positions advance at another pace than the audio would restart the
/// stream at every block; the engine gives up following it after a few blocks and plays one
/// continuous stream.
#[test]
fn a_host_whose_positions_do_not_follow_the_audio_gets_a_continuous_stream() {
    let block = 100;
    let mut e = engine(24_000, 1, Some(block), DelayFrames::boxed(1, 1.0));
    let latency = e.latency();
    let input = noise(40 * block + latency, 5);
    let mut signal = input.clone();
    for (k, chunk) in signal.chunks_mut(block).enumerate() {
        e.follow_transport(Some(Playhead {
            playing: true,
            position: 90 * k as i64,
        }));
        e.process(&mut [chunk], true, || (1.0, 1.0));
    }
    assert!(e.ignores_transport());
    // Restarts at blocks 0, 1 and 2, then none: from block 2 on, one stream.
    let from = 2 * block;
    let what = "after giving up";
    assert_delayed(&signal[from..], &input[from..], latency, 1.0, 0.0, what);
}

//! CLAP host test: loads the CLAP bundle built by `cargo xtask test` (with nice-plug's
//! `assert_process_allocs`, so any allocation in `process()` aborts this test binary) through
//! clack-host, and checks the descriptor, the audio ports, the reported latency against the
//! measured delay, parameter changes sent as events, the state round trip, offline rendering,
//! repeated activation, mono and stereo.

#![cfg(feature = "host-tests")]

mod clap_plugin;
#[macro_use]
mod host_common;

use clack_extensions::render::RenderMode;
use clack_host::prelude::*;
use clap_plugin::*;
use host_common::*;

/// nice-plug exposes continuous parameters to CLAP normalized to 0..1 (stepped ones as their
/// step index): Output Gain spans -24..24 dB.
fn gain_value(db: f64) -> f64 {
    (db + 24.0) / 48.0
}

/// Parameter values go through f32 inside the plugin.
fn assert_close(value: f64, expected: f64) {
    assert!((value - expected).abs() < 1e-6, "{value} != {expected}");
}

fn stereo_noise(len: usize) -> Vec<Vec<f32>> {
    vec![noise(len, 1), noise(len, 2)]
}

#[test]
fn descriptor_and_audio_ports() {
    let _serial = serial();
    let entry = unsafe { PluginEntry::load(clap_path()) }.expect("loading the bundle");
    let factory = entry.get_plugin_factory().expect("plugin factory");
    let descriptors: Vec<_> = factory.plugin_descriptors().collect();
    assert_eq!(descriptors.len(), 1);
    let d = &descriptors[0];
    assert_eq!(d.id().unwrap().to_bytes(), PLUGIN_ID);
    assert_eq!(d.name().unwrap().to_bytes(), b"Vocos Codec");
    let features: Vec<_> = d.features().map(|f| f.to_bytes().to_vec()).collect();
    assert!(features.contains(&b"audio-effect".to_vec()), "{features:?}");

    let mut plugin = Clap::load();
    assert_eq!(plugin.port_channels(), (2, 2), "stereo by default");
    plugin.select_channels(1);
    plugin.select_channels(2);
}

/// Reported latency = measured delay, at 24 kHz to the sample (the whole output equals the
/// input delayed), at 44.1 and 48 kHz an impulse's peak within one sample (the wet path is
/// resampled to 24 kHz and back) and the dry path (Mix 0) exactly.
#[test]
fn measured_delay_equals_reported_latency() {
    let _serial = serial();
    for channels in [2usize, 1] {
        for rate in RATES {
            let mut plugin = Clap::load();
            plugin.select_channels(channels as u32);
            // Longer than the latency (about 0.4 s) plus a third of a second.
            let len = rate as usize * 3 / 4;
            let at: Vec<usize> = (0..channels).map(|c| 1_000 + 777 * c).collect();
            let input: Vec<Vec<f32>> = at.iter().map(|&a| impulses(len, &[a])).collect();
            let (output, latency) = plugin.render(rate, &input, &[], Pace::RealTime);
            assert!(latency > 0);
            for c in 0..channels {
                let delay = impulse_delays(&output[c], &at[c..=c], latency)[0];
                println!(
                    "CLAP {rate} Hz, {channels} ch, channel {c}: measured delay {delay} samples, \
                     reported latency {latency}"
                );
                assert!(
                    delay.abs_diff(latency) <= 1,
                    "{rate} Hz: delay {delay} vs {latency}"
                );
            }
            let noise_in: Vec<Vec<f32>> = (0..channels).map(|c| noise(len, c as u32)).collect();
            if rate == 24_000 {
                let (output, _) = plugin.render(rate, &noise_in, &[], Pace::RealTime);
                for c in 0..channels {
                    let what = format!("24 kHz wet, {channels} ch, channel {c}");
                    assert_delayed(&output[c], &noise_in[c], latency, 1.0, &what);
                }
            }
            // The dry path is delayed exactly at every rate.
            let mix = plugin.param("Mix");
            let dry = [Change {
                at: 0,
                param: mix,
                value: 0.0,
            }];
            let (output, _) = plugin.render(rate, &noise_in, &dry, Pace::Flat);
            // Mix is smoothed over 20 ms from its previous value.
            let settled = latency + rate as usize / 25;
            for c in 0..channels {
                let what = format!("{rate} Hz dry, {channels} ch, channel {c}");
                assert_delayed(
                    &output[c][settled..],
                    &noise_in[c][settled - latency..len - latency],
                    0,
                    1.0,
                    &what,
                );
            }
        }
    }
}

#[test]
fn offline_and_faster_than_real_time_rendering_equal_real_time_playback() {
    let _serial = serial();
    for rate in [24_000, 48_000] {
        let input = stereo_noise(rate as usize);
        let mut plugin = Clap::load();
        let (real_time, latency) = plugin.render(rate, &input, &[], Pace::RealTime);
        // A host rendering flat out without flagging offline mode gets the same result.
        let (flat_out, _) = plugin.render(rate, &input, &[], Pace::Flat);
        assert_eq!(
            real_time, flat_out,
            "{rate} Hz: unflagged fast render differs"
        );
        plugin.set_render(RenderMode::Offline);
        let (offline, offline_latency) = plugin.render(rate, &input, &[], Pace::Flat);
        assert_eq!(latency, offline_latency);
        assert_eq!(
            real_time, offline,
            "{rate} Hz: offline render differs from real time"
        );
        assert!(offline[0][latency + 100..].iter().any(|&s| s != 0.0));
    }
}

#[test]
fn parameter_events_change_gain_mix_and_bandwidth() {
    let _serial = serial();
    let rate = 24_000;
    let mut plugin = Clap::load();
    plugin.set_render(RenderMode::Offline);
    let (gain, mix, bandwidth) = (
        plugin.param("Output Gain"),
        plugin.param("Mix"),
        plugin.param("Bandwidth"),
    );
    assert_close(plugin.param_value(bandwidth), 2.0); // 6 kbps by default
    let input = stereo_noise(rate as usize);
    let changes = [
        Change {
            at: 15_000,
            param: gain,
            value: gain_value(-6.0),
        },
        Change {
            at: 15_000,
            param: mix,
            value: 0.5,
        },
        Change {
            at: 15_000,
            param: bandwidth,
            value: 3.0,
        },
    ];
    let (output, latency) = plugin.render(rate, &input, &changes, Pace::Flat);
    // Before the change: unity. After 20 ms of smoothing: -6 dB (wet and dry are the same
    // signal without a model, so the mix does not change it).
    let g = 10f32.powf(-6.0 / 20.0);
    assert_delayed(
        &output[0][..15_000],
        &input[0][..15_000],
        latency,
        1.0,
        "before",
    );
    let settled = 15_000 + rate as usize / 50 + 1;
    for n in settled..output[0].len() {
        let expected = input[0][n - latency] * g;
        assert!((output[0][n] - expected).abs() < 1e-5, "sample {n}");
    }
    assert_close(plugin.param_value(gain), gain_value(-6.0));
    assert_close(plugin.param_value(mix), 0.5);
    assert_close(plugin.param_value(bandwidth), 3.0); // 12 kbps
}

#[test]
fn state_round_trip_keeps_parameters_and_model_location() {
    let _serial = serial();
    let mut plugin = Clap::load();
    let (gain, bandwidth) = (plugin.param("Output Gain"), plugin.param("Bandwidth"));
    let changes = [
        Change {
            at: 0,
            param: gain,
            value: gain_value(3.5),
        },
        Change {
            at: 0,
            param: bandwidth,
            value: 0.0,
        },
    ];
    plugin.render(24_000, &stereo_noise(2_000), &changes, Pace::Flat);
    let mut state = plugin.save();

    // Set the persisted model location inside the saved state, as restoring a project that
    // chose one would.
    let location = "/models/vocos äöü";
    state["fields"]["model-path"] =
        serde_json::Value::String(serde_json::to_string(location).unwrap());

    let mut restored = Clap::load();
    restored.restore(&state);
    assert_close(restored.param_value(gain), gain_value(3.5));
    assert_eq!(state["params"]["gain"]["f32"], 3.5);
    assert_close(restored.param_value(bandwidth), 0.0);
    let resaved = restored.save();
    assert_eq!(
        resaved["fields"]["model-path"],
        state["fields"]["model-path"]
    );
    assert_eq!(resaved["params"], state["params"]);
}

#[test]
fn three_activation_cycles_give_the_same_latency_and_output() {
    let _serial = serial();
    let rate = 48_000;
    let mut plugin = Clap::load();
    plugin.set_render(RenderMode::Offline);
    let input = stereo_noise(rate as usize);
    let (first, latency) = plugin.render(rate, &input, &[], Pace::Flat);
    for cycle in 1..3 {
        let (output, again) = plugin.render(rate, &input, &[], Pace::Flat);
        assert_eq!(again, latency, "cycle {cycle}");
        assert_eq!(output, first, "cycle {cycle}");
    }
}

/// Through the CLAP host at 24 kHz, the plugin running the (tiny) codec outputs the reference
/// `Vocos.forward(audio, bandwidth_id=2)` (6 kbps, the default) delayed by the reported
/// latency, within 1e-4 of the reference peak, for every sample the end of the clip does not
/// reach.
#[test]
fn codec_output_equals_reference_delayed_by_the_reported_latency() {
    let _serial = serial();
    let rate = 24_000;
    let audio = golden("audio");
    let reference = golden("audio_out_2");
    let mut plugin = plugin_with_tiny_models();
    plugin.set_render(RenderMode::Offline);
    let mut input = audio.clone();
    input.resize(audio.len() + 15_000, 0.0);
    let (output, latency) = plugin.render(rate, &[input.clone(), input], &[], Pace::Flat);
    assert_eq!(
        latency,
        9120 + 2 * MAX_BLOCK + 2 * 4 * 320,
        "model latency + two blocks + two steps of four frames"
    );
    // Samples that do not depend on the end of the clip (28.5 frames of lookahead).
    let compared = audio.len() - 9_440;
    let peak = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (c, channel) in output.iter().enumerate() {
        let worst = (0..compared)
            .map(|n| (channel[latency + n] - reference[n]).abs())
            .fold(0f32, f32::max);
        println!(
            "CLAP codec at 24 kHz, channel {c}: max |error| / peak = {:.3e}",
            worst / peak
        );
        assert!(
            worst <= 1e-4 * peak,
            "channel {c}: error {worst} vs peak {peak}"
        );
    }
}

/// The Low CPU latency setting runs eight frames per step: the reported latency grows by the
/// two extra steps' worth (buffering holds a step and the granularity another), and the output is
/// still the reference delayed by it.
#[test]
fn low_cpu_setting_reports_its_latency_and_keeps_the_output() {
    let _serial = serial();
    let audio = golden("audio");
    let reference = golden("audio_out_2");
    let mut plugin = plugin_with_tiny_models();
    let mut state = plugin.save();
    state["params"]["latency"] = serde_json::json!({ "string": "low-cpu" });
    plugin.restore(&state);
    plugin.set_render(RenderMode::Offline);
    let mut input = audio.clone();
    input.resize(audio.len() + 15_000, 0.0);
    let (output, latency) = plugin.render(24_000, &[input.clone(), input], &[], Pace::Flat);
    assert_eq!(latency, 9120 + 2 * MAX_BLOCK + 2 * 8 * 320);
    let error = relative_error(&output[0], latency, &reference, audio.len() - 9_440);
    println!(
        "CLAP codec, Low CPU (8 frames per step): latency {latency}, max |error| / peak = {error:.3e}"
    );
    assert!(error <= 1e-4);
}

/// Bandwidth automation sent as a host event lands on the model frame its sample maps to: the
/// output equals the offline reference with those per-frame bandwidth ids, delayed.
#[test]
fn bandwidth_automation_lands_on_its_frame() {
    let _serial = serial();
    let audio = golden("audio");
    let mut plugin = plugin_with_tiny_models();
    plugin.set_render(RenderMode::Offline);
    let bandwidth = plugin.param("Bandwidth");
    // CLAP sees stepped parameters as their step index.
    let changes = AUTOMATION.map(|(at, id)| Change {
        at,
        param: bandwidth,
        value: id as f64,
    });
    let mut input = audio.clone();
    input.resize(audio.len() + 15_000, 0.0);
    let (output, latency) = plugin.render(24_000, &[input.clone(), input], &changes, Pace::Flat);
    let reference = automation_reference(&audio);
    let error = relative_error(&output[0], latency, &reference, audio.len() - 9_440);
    println!("CLAP bandwidth automation at 24 kHz: max |error| / peak = {error:.3e}");
    assert!(error <= 1e-4);
}

/// The mel vocoder mode: the reference `Vocos.forward(audio)` of the mel variant, delayed.
#[test]
fn mel_mode_output_equals_reference_delayed_by_the_reported_latency() {
    let _serial = serial();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../model/tests/fixtures/tiny/goldens_mel.safetensors");
    let goldens = candle_core::safetensors::load(path, &candle_core::Device::Cpu).unwrap();
    let get = |name: &str| {
        goldens[name]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    let (audio, reference) = (get("audio"), get("audio_out"));
    let mut plugin = plugin_with_tiny_models();
    let mut state = plugin.save();
    state["params"]["model"] = serde_json::json!({ "string": "mel" });
    plugin.restore(&state);
    plugin.set_render(RenderMode::Offline);
    let mut input = audio.clone();
    input.resize(audio.len() + 15_000, 0.0);
    let (output, latency) = plugin.render(24_000, &[input.clone(), input], &[], Pace::Flat);
    assert_eq!(
        latency,
        7680 + 2 * MAX_BLOCK + 2 * 4 * 256,
        "mel latency + two blocks + two steps of four frames"
    );
    let compared = audio.len() - 8_000;
    let peak = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = (0..compared)
        .map(|n| (output[1][latency + n] - reference[n]).abs())
        .fold(0f32, f32::max);
    println!(
        "CLAP mel mode at 24 kHz: max |error| / peak = {:.3e}",
        worst / peak
    );
    assert!(worst <= 1e-4 * peak, "error {worst} vs peak {peak}");
}

/// With the model running, rendering offline, in real time, and flat out unflagged give the
/// same output.
#[test]
fn codec_bounce_equals_real_time_playback() {
    let _serial = serial();
    let audio = golden("audio");
    let mut plugin = plugin_with_tiny_models();
    let input = [audio.clone(), audio];
    let (real_time, _) = plugin.render(24_000, &input, &[], Pace::RealTime);
    let (flat_out, _) = plugin.render(24_000, &input, &[], Pace::Flat);
    plugin.set_render(RenderMode::Offline);
    let (offline, _) = plugin.render(24_000, &input, &[], Pace::Flat);
    assert!(real_time[0].iter().any(|&s| s != 0.0));
    assert_same(
        &real_time,
        &flat_out,
        "unflagged flat-out render vs real time",
    );
    assert_same(&real_time, &offline, "offline render vs real time");
}

/// A band-limited test signal (partials from 110 Hz to 5 kHz, slowly modulated) evaluated at
/// `rate`, so the 24 and 48 kHz inputs are the same sound.
fn partials(rate: u32, seconds: f64) -> Vec<f32> {
    let len = (seconds * f64::from(rate)) as usize;
    (0..len)
        .map(|n| {
            let t = n as f64 / f64::from(rate);
            let swell = 0.6 + 0.4 * (std::f64::consts::TAU * 0.7 * t).sin();
            let sum: f64 = [110.0, 347.0, 1013.0, 2411.0, 4999.0]
                .iter()
                .enumerate()
                .map(|(k, f)| (std::f64::consts::TAU * f * t + k as f64).sin() / (k + 1) as f64)
                .sum();
            (0.2 * swell * sum) as f32
        })
        .collect()
}

/// `x` low-passed at 9 kHz (24 kHz rate) by a 127-tap Hann-windowed sinc, same length (the
/// first and last 63 samples see the edges).
fn low_pass_9k(x: &[f32]) -> Vec<f32> {
    const HALF: isize = 63;
    let cutoff = 9_000.0 / 24_000.0;
    let taps: Vec<f64> = (-HALF..=HALF)
        .map(|k| {
            let t = k as f64;
            let sinc = if k == 0 {
                2.0 * cutoff
            } else {
                (std::f64::consts::TAU * cutoff * t).sin() / (std::f64::consts::PI * t)
            };
            let hann = 0.5 + 0.5 * (std::f64::consts::PI * t / (HALF + 1) as f64).cos();
            sinc * hann
        })
        .collect();
    (0..x.len() as isize)
        .map(|n| {
            taps.iter()
                .zip(-HALF..)
                .filter_map(|(h, k)| x.get((n - k) as usize).map(|&v| h * f64::from(v)))
                .sum::<f64>() as f32
        })
        .collect()
}

/// At 48 kHz the model runs behind the resamplers, aligned by the reported latency and on the
/// same frame grid as at 24 kHz. The mel vocoder is a continuous function of its input, so its
/// 48 kHz output, read at every second sample from the reported latency on, matches its 24 kHz
/// output from that latency on, to within what the two resamplers change: they pass up to
/// about 11 kHz, so both are compared below 9 kHz. One 48 kHz sample of misalignment (half a
/// 24 kHz sample) leaves errors of the order of the signal. (The codec's codes flip at near
/// ties when resampling changes the input slightly, and the random tiny decoder then diverges,
/// so for the codec only finite, non-silent output is checked.)
#[test]
fn output_at_48_khz_is_finite_and_aligned_with_24_khz() {
    let _serial = serial();
    let mut plugin = plugin_with_tiny_models();
    plugin.set_render(RenderMode::Offline);
    let stereo = |rate| {
        let x = partials(rate, 2.0);
        [x.clone(), x]
    };
    let (codec, _) = plugin.render(48_000, &stereo(48_000), &[], Pace::Flat);
    assert!(codec.iter().flatten().all(|v| v.is_finite()));
    assert!(codec[0][codec[0].len() / 2..].iter().any(|&v| v != 0.0));

    let mut state = plugin.save();
    state["params"]["model"] = serde_json::json!({ "string": "mel" });
    plugin.restore(&state);
    plugin.set_render(RenderMode::Offline);
    let (low, low_latency) = plugin.render(24_000, &stereo(24_000), &[], Pace::Flat);
    let (high, high_latency) = plugin.render(48_000, &stereo(48_000), &[], Pace::Flat);
    assert!(high.iter().flatten().all(|v| v.is_finite()));
    let low = &low[0][low_latency..];
    // Past the resamplers' start-up and the filter's edge, before the clip's end reaches back.
    let compared = 2_400..low.len() - 9_000;
    let low = low_pass_9k(low);
    let peak = low[compared.clone()]
        .iter()
        .fold(0f32, |m, v| m.max(v.abs()));
    let error_at = |shift: usize| {
        let even: Vec<f32> = high[0][high_latency + shift..]
            .iter()
            .step_by(2)
            .copied()
            .collect();
        let high = low_pass_9k(&even);
        compared
            .clone()
            .map(|n| (high[n] - low[n]).abs())
            .fold(0f32, f32::max)
            / peak
    };
    let (aligned, off_by_one) = (error_at(0), error_at(1));
    println!(
        "CLAP mel mode, 48 kHz vs 24 kHz output below 9 kHz: max |error| / peak = \
         {aligned:.3e} aligned by the reported latencies, {off_by_one:.3e} one 48 kHz sample off"
    );
    assert!(aligned < 0.03, "48 kHz output not aligned: {aligned}");
    assert!(
        off_by_one > 5.0 * aligned,
        "the check cannot see a one-sample shift"
    );
}

/// A worker stalled on purpose for half a second (debug bundles honour
/// `VOCOS_TEST_STALL_WORKER`) while the host plays in real time: the plugin keeps answering,
/// plays silence for the blocks the worker is late for (the underruns it counts), and then
/// plays the input delayed by the same latency as before, every sample exact.
#[test]
fn a_stalled_worker_plays_silence_then_recovers_with_the_same_latency() {
    let _serial = serial();
    let rate = 24_000;
    let input = stereo_noise(3 * rate as usize);
    let _stall = StallWorker::set();
    let mut plugin = Clap::load();
    let (output, latency) = plugin.render(rate, &input, &[], Pace::RealTime);
    assert_one_silent_gap_then_recovery(&output, &input, latency, rate, "CLAP");
}

/// Renders with a fresh plugin running the tiny models, for the shared transport scenarios.
fn render_tiny(
    rate: u32,
    input: &[Vec<f32>],
    timeline: &[Stretch],
    real_time: bool,
) -> (Vec<Vec<f32>>, usize) {
    let mut plugin = plugin_with_tiny_models();
    let (mode, pace) = if real_time {
        (RenderMode::Realtime, Pace::RealTime)
    } else {
        (RenderMode::Offline, Pace::Flat)
    };
    plugin.set_render(mode);
    plugin.render_timeline(rate, input, &[], pace, timeline)
}

shared_scenarios!(render_tiny, "CLAP");

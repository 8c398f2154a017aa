//! The host test scenarios, written once for every [`Host`]; `host_scenarios!` declares them as
//! tests of a host.

use super::*;

/// Output Gain spans -24..24 dB; hosts see it normalized to 0..1.
fn gain_value(db: f64) -> f64 {
    (db + 24.0) / 48.0
}

/// Parameter values go through f32 inside the plugin.
fn assert_close(value: f64, expected: f64, what: &str) {
    assert!(
        (value - expected).abs() < 1e-6,
        "{what}: {value} != {expected}"
    );
}

fn noise_channels(channels: usize, len: usize) -> Vec<Vec<f32>> {
    (0..channels).map(|c| noise(len, 10 + c as u32)).collect()
}

/// The tiny codec's golden input with room after it for the model's lookahead to play out.
fn golden_audio_with_tail() -> Vec<f32> {
    let mut audio = golden("audio");
    audio.resize(audio.len() + 15_000, 0.0);
    audio
}

/// Samples of the golden output that do not depend on the end of the clip (the codec has 28.5
/// frames of lookahead).
fn compared_codec_samples() -> usize {
    golden("audio").len() - 9_440
}

/// Every channel of `output` is `reference` delayed by `latency` within 1e-4 of the
/// reference's peak, over the first `compared` samples of the reference.
fn assert_reference_delayed(
    output: &[Vec<f32>],
    channels: usize,
    latency: usize,
    reference: &[f32],
    compared: usize,
    what: &str,
) {
    assert_eq!(output.len(), channels, "{what}: channel count");
    for (c, channel) in output.iter().enumerate() {
        let error = relative_error(channel, latency, reference, compared);
        println!("{what}, channel {c}: max |error| / peak = {error:.3e}");
        assert!(error <= 1e-4, "{what}, channel {c}: error {error}");
    }
}

/// Stereo by default; mono and back to stereo can be selected.
pub fn stereo_by_default_and_mono<H: Host>() {
    let mut plugin = H::load();
    assert_eq!(plugin.channels(), (2, 2), "{}: stereo by default", H::NAME);
    plugin.select_channels(1);
    plugin.select_channels(2);
}

/// Reported latency = measured delay, at 24 kHz to the sample (the whole output equals the
/// input delayed), at 44.1 and 48 kHz an impulse's peak within one sample (the wet path is
/// resampled to 24 kHz and back) and the dry path (Mix 0) exactly.
pub fn measured_delay_equals_reported_latency<H: Host>() {
    let host = H::NAME;
    for channels in [2usize, 1] {
        for rate in RATES {
            let mut plugin = H::load();
            plugin.select_channels(channels);
            // Longer than the latency (about 0.4 s) plus a third of a second.
            let len = rate as usize * 3 / 4;
            let at: Vec<usize> = (0..channels).map(|c| 1_000 + 777 * c).collect();
            let input: Vec<Vec<f32>> = at.iter().map(|&a| impulses(len, &[a])).collect();
            let (output, latency) = plugin.render(rate, &input, &[], Mode::RealTime);
            assert!(latency > 0);
            assert_eq!(output.len(), channels, "{host}: channel count");
            for c in 0..channels {
                let delay = impulse_delays(&output[c], &at[c..=c], latency)[0];
                println!(
                    "{host} {rate} Hz, {channels} ch, channel {c}: measured delay {delay} \
                     samples, reported latency {latency}"
                );
                assert!(
                    delay.abs_diff(latency) <= 1,
                    "{host} {rate} Hz: delay {delay} vs {latency}"
                );
            }
            let noise_in = noise_channels(channels, len);
            if rate == 24_000 {
                let (output, _) = plugin.render(rate, &noise_in, &[], Mode::RealTime);
                for c in 0..channels {
                    let what = format!("{host} 24 kHz wet, {channels} ch, channel {c}");
                    assert_delayed(&output[c], &noise_in[c], latency, 1.0, 1e-6, &what);
                }
            }
            // The dry path is delayed exactly at every rate.
            let dry = [Change {
                at: 0,
                param: plugin.param("Mix"),
                value: 0.0,
            }];
            let (output, _) = plugin.render(rate, &noise_in, &dry, Mode::FlatOut);
            // Mix is smoothed over 20 ms from its previous value.
            let settled = latency + rate as usize / 25;
            for c in 0..channels {
                let what = format!("{host} {rate} Hz dry, {channels} ch, channel {c}");
                assert_delayed(
                    &output[c][settled..],
                    &noise_in[c][settled - latency..len - latency],
                    0,
                    1.0,
                    1e-6,
                    &what,
                );
            }
        }
    }
}

/// Without a model: rendering offline, in real time and flat out unflagged give the same
/// output.
pub fn offline_and_faster_than_real_time_rendering_equal_real_time_playback<H: Host>() {
    let host = H::NAME;
    for rate in [24_000, 48_000] {
        let input = noise_channels(2, rate as usize);
        let mut plugin = H::load();
        let (real_time, latency) = plugin.render(rate, &input, &[], Mode::RealTime);
        let (flat_out, flat_out_latency) = plugin.render(rate, &input, &[], Mode::FlatOut);
        let (offline, offline_latency) = plugin.render(rate, &input, &[], Mode::Offline);
        assert_eq!((flat_out_latency, offline_latency), (latency, latency));
        let what = format!("{host} {rate} Hz: unflagged flat-out render vs real time");
        assert_same(&real_time, &flat_out, &what);
        let what = format!("{host} {rate} Hz: offline render vs real time");
        assert_same(&real_time, &offline, &what);
        assert!(offline[1][latency + 100..].iter().any(|&s| s != 0.0));
    }
}

/// Gain, Mix and Bandwidth changes sent with the audio take effect at their sample: unity
/// before, -6 dB after 20 ms of smoothing (wet and dry are the same signal without a model,
/// so the mix does not change it), and the host reads the new values back.
pub fn parameter_changes_change_gain_mix_and_bandwidth<H: Host>() {
    let host = H::NAME;
    let rate = 24_000;
    let mut plugin = H::load();
    let (gain, mix, bandwidth) = (
        plugin.param("Output Gain"),
        plugin.param("Mix"),
        plugin.param("Bandwidth"),
    );
    // 6 kbps, step 2 of 0..=3, by default.
    assert_close(plugin.param_value(bandwidth), H::stepped(2, 3), host);
    let input = noise_channels(2, rate as usize);
    let at = 15_000;
    let changes = [
        (gain, gain_value(-6.0)),
        (mix, 0.5),
        (bandwidth, H::stepped(3, 3)),
    ]
    .map(|(param, value)| Change { at, param, value });
    let (output, latency) = plugin.render(rate, &input, &changes, Mode::Offline);
    let what = format!("{host}: before the change");
    assert_delayed(&output[0][..at], &input[0][..at], latency, 1.0, 1e-6, &what);
    let settled = at + rate as usize / 50 + 1;
    let g = 10f32.powf(-6.0 / 20.0);
    for c in 0..2 {
        let what = format!("{host}: -6 dB, channel {c}");
        assert_delayed(
            &output[c][settled..],
            &input[c][settled - latency..input[c].len() - latency],
            0,
            g,
            1e-5,
            &what,
        );
    }
    assert_close(plugin.param_value(gain), gain_value(-6.0), host);
    assert_close(plugin.param_value(mix), 0.5, host);
    assert_close(plugin.param_value(bandwidth), H::stepped(3, 3), host); // 12 kbps
}

/// The saved state keeps the parameters and the model folder (set in the state, as restoring a
/// project that chose one would), through a restore into a new instance and a save again.
pub fn state_round_trip_keeps_parameters_and_model_location<H: Host>() {
    let host = H::NAME;
    let mut plugin = H::load();
    let (gain, bandwidth) = (plugin.param("Output Gain"), plugin.param("Bandwidth"));
    let changes =
        [(gain, gain_value(3.5)), (bandwidth, H::stepped(0, 3))].map(|(param, value)| Change {
            at: 0,
            param,
            value,
        });
    plugin.render(24_000, &noise_channels(2, 2_000), &changes, Mode::Offline);
    let mut state = plugin.save();
    assert_eq!(state["params"]["gain"]["f32"], 3.5);
    let location = "/models/vocos äöü";
    state["fields"]["model-path"] =
        serde_json::Value::String(serde_json::to_string(location).unwrap());

    let mut restored = H::load();
    restored.restore(&state);
    assert_close(restored.param_value(gain), gain_value(3.5), host);
    assert_close(restored.param_value(bandwidth), H::stepped(0, 3), host);
    let resaved = restored.save();
    assert_eq!(
        resaved["fields"]["model-path"],
        state["fields"]["model-path"]
    );
    assert_eq!(resaved["params"], state["params"]);
}

pub fn three_activation_cycles_give_the_same_latency_and_output<H: Host>() {
    let rate = 48_000;
    let mut plugin = H::load();
    let input = noise_channels(2, rate as usize);
    let (first, latency) = plugin.render(rate, &input, &[], Mode::Offline);
    for cycle in 1..3 {
        let (output, again) = plugin.render(rate, &input, &[], Mode::Offline);
        assert_eq!(again, latency, "{}: cycle {cycle}", H::NAME);
        assert_same(&output, &first, &format!("{}: cycle {cycle}", H::NAME));
    }
}

/// At 24 kHz the plugin running the (tiny) codec with `frames_per_step` reports the model's
/// latency plus two blocks and two steps, and outputs the reference
/// `Vocos.forward(audio, bandwidth_id=2)` (6 kbps, the default) delayed by it, within 1e-4 of
/// the reference peak, for every sample the end of the clip does not reach.
fn assert_codec_output_is_the_reference<H: Host>(plugin: &mut H, frames_per_step: usize) {
    let what = format!("{} codec, {frames_per_step} frames per step", H::NAME);
    let input = golden_audio_with_tail();
    let (output, latency) = plugin.render(24_000, &[input.clone(), input], &[], Mode::Offline);
    assert_eq!(
        latency,
        9120 + 2 * MAX_BLOCK + 2 * frames_per_step * 320,
        "{what}: model latency + two blocks + two steps"
    );
    let reference = golden("audio_out_2");
    let compared = compared_codec_samples();
    assert_reference_delayed(&output, 2, latency, &reference, compared, &what);
}

/// The codec at the default latency setting (four frames per step): see
/// [`assert_codec_output_is_the_reference`].
pub fn codec_output_equals_reference_delayed_by_the_reported_latency<H: Host>() {
    assert_codec_output_is_the_reference(&mut H::with_tiny_models(), 4);
}

/// The Low CPU latency setting runs eight frames per step: the reported latency grows by the
/// two extra steps' worth (buffering holds a step and the granularity another), and the output
/// is still the reference delayed by it.
pub fn low_cpu_setting_reports_its_latency_and_keeps_the_output<H: Host>() {
    let mut plugin = H::with_tiny_models();
    plugin.edit_state(|state| {
        state["params"]["latency"] = serde_json::json!({ "string": "low-cpu" });
    });
    assert_codec_output_is_the_reference(&mut plugin, 8);
}

/// Bandwidth automation sent with the audio lands on the model frame its sample maps to: the
/// output equals the offline reference with those per-frame bandwidth ids, delayed.
pub fn bandwidth_automation_lands_on_its_frame<H: Host>() {
    let mut plugin = H::with_tiny_models();
    let bandwidth = plugin.param("Bandwidth");
    let changes = AUTOMATION.map(|(at, id)| Change {
        at,
        param: bandwidth,
        value: H::stepped(id, 3),
    });
    let input = golden_audio_with_tail();
    let (output, latency) = plugin.render(24_000, &[input.clone(), input], &changes, Mode::Offline);
    let reference = automation_reference(&golden("audio"));
    let what = format!("{} bandwidth automation at 24 kHz", H::NAME);
    let compared = compared_codec_samples();
    assert_reference_delayed(&output, 2, latency, &reference, compared, &what);
}

/// The mel vocoder mode: the reference `Vocos.forward(audio)` of the mel variant, delayed.
pub fn mel_mode_output_equals_reference_delayed_by_the_reported_latency<H: Host>() {
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
    let mut plugin = H::with_tiny_models();
    plugin.edit_state(|state| state["params"]["model"] = serde_json::json!({ "string": "mel" }));
    let mut input = audio.clone();
    input.resize(audio.len() + 15_000, 0.0);
    let (output, latency) = plugin.render(24_000, &[input.clone(), input], &[], Mode::Offline);
    assert_eq!(
        latency,
        7680 + 2 * MAX_BLOCK + 2 * 4 * 256,
        "mel latency + two blocks + two steps of four frames"
    );
    let what = format!("{} mel mode at 24 kHz", H::NAME);
    assert_reference_delayed(&output, 2, latency, &reference, audio.len() - 8_000, &what);
}

/// With the model running, rendering offline, in real time, and flat out unflagged give the
/// same output.
pub fn codec_bounce_equals_real_time_playback<H: Host>() {
    let host = H::NAME;
    let audio = golden("audio");
    let mut plugin = H::with_tiny_models();
    let input = [audio.clone(), audio];
    let (real_time, _) = plugin.render(24_000, &input, &[], Mode::RealTime);
    let (flat_out, _) = plugin.render(24_000, &input, &[], Mode::FlatOut);
    let (offline, _) = plugin.render(24_000, &input, &[], Mode::Offline);
    assert!(real_time[0].iter().any(|&s| s != 0.0));
    let what = format!("{host}: unflagged flat-out render vs real time");
    assert_same(&real_time, &flat_out, &what);
    assert_same(
        &real_time,
        &offline,
        &format!("{host}: offline render vs real time"),
    );
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
pub fn output_at_48_khz_is_finite_and_aligned_with_24_khz<H: Host>() {
    let host = H::NAME;
    let mut plugin = H::with_tiny_models();
    let stereo = |rate| {
        let x = partials(rate, 2.0);
        [x.clone(), x]
    };
    let (codec, _) = plugin.render(48_000, &stereo(48_000), &[], Mode::Offline);
    assert!(codec.iter().flatten().all(|v| v.is_finite()));
    assert!(codec[0][codec[0].len() / 2..].iter().any(|&v| v != 0.0));

    plugin.edit_state(|state| state["params"]["model"] = serde_json::json!({ "string": "mel" }));
    let (low, low_latency) = plugin.render(24_000, &stereo(24_000), &[], Mode::Offline);
    let (high, high_latency) = plugin.render(48_000, &stereo(48_000), &[], Mode::Offline);
    assert!(high.iter().flatten().all(|v| v.is_finite()));
    let low = &low[0][low_latency..];
    // Past the resamplers' start-up and the filter's edge, before the clip's end reaches back.
    let compared = 2_400..low.len() - 9_000;
    let low = low_pass_9k(low);
    let peak = low[compared.clone()]
        .iter()
        .fold(0f32, |m, v| m.max(v.abs()));
    assert!(
        peak > 0.0,
        "{host}: the mel vocoder played nothing at 24 kHz"
    );
    let error_at = |shift: usize| {
        let even: Vec<f32> = high[0][high_latency + shift..]
            .iter()
            .step_by(2)
            .copied()
            .collect();
        let high = low_pass_9k(&even);
        assert!(
            high.len() >= compared.end,
            "{host}: 48 kHz output too short"
        );
        compared
            .clone()
            .map(|n| (high[n] - low[n]).abs())
            .fold(0f32, f32::max)
            / peak
    };
    let (aligned, off_by_one) = (error_at(0), error_at(1));
    println!(
        "{host} mel mode, 48 kHz vs 24 kHz output below 9 kHz: max |error| / peak = \
         {aligned:.3e} aligned by the reported latencies, {off_by_one:.3e} one 48 kHz sample off"
    );
    assert!(
        aligned < 0.03,
        "{host}: 48 kHz output not aligned: {aligned}"
    );
    assert!(
        off_by_one > 5.0 * aligned,
        "{host}: the check cannot see a one-sample shift"
    );
}

/// A worker stalled on purpose for half a second (debug bundles honour
/// `VOCOS_TEST_STALL_WORKER`) while the host plays in real time: the plugin keeps answering,
/// plays silence for the blocks the worker is late for (the underruns it counts), and then
/// plays the input delayed by the same latency as before, every sample exact.
pub fn a_stalled_worker_plays_silence_then_recovers_with_the_same_latency<H: Host>() {
    let rate = 24_000;
    let input = noise_channels(2, 3 * rate as usize);
    let _stall = StallWorker::set();
    let mut plugin = H::load();
    let (output, latency) = plugin.render(rate, &input, &[], Mode::RealTime);
    assert_one_silent_gap_then_recovery(&output, &input, latency, rate, H::NAME);
}

/// Renders with a fresh instance running the tiny models: in real time, or offline.
fn render_tiny<H: Host>(
    rate: u32,
    input: &[Vec<f32>],
    timeline: &[Stretch],
    real_time: bool,
) -> Rendered {
    let mode = if real_time {
        Mode::RealTime
    } else {
        Mode::Offline
    };
    H::with_tiny_models().render_take(Take {
        rate,
        input,
        changes: &[],
        mode,
        timeline,
    })
}

/// Same start, same sound (24 and 48 kHz): the audio played from timeline position `from`
/// gives the same output, sample for sample, after 0.3 s of processing with the transport
/// stopped (in real time) and after 2.7 s (rendered offline), whatever the plugin heard while
/// stopped; and a loop jump back to `from` plays it again identically.
pub fn same_start_same_sound<H: Host>() {
    let host = H::NAME;
    for rate in [24_000, 48_000] {
        let audio = golden_audio_with_tail();
        let from = 12_345;
        let output_from_start = |stopped_seconds: f64, seed: u32, real_time: bool| {
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
            let (mut output, _) = render_tiny::<H>(rate, &input, &timeline, real_time);
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
            "{host} at {rate} Hz: playback from {from} identical after 0.3 s and 2.7 s stopped, \
             and after a loop jump"
        );
    }
}

/// At 24 kHz, playback started at a frame boundary of the timeline (`p = 50 x 320`) after half
/// a second of stopped transport gives the reference `Vocos.forward(audio)` of the audio from
/// `p`, delayed by the reported latency, within 1e-4 of the reference peak.
pub fn playback_from_a_frame_boundary_equals_the_reference<H: Host>() {
    let audio = golden_audio_with_tail();
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
    let (output, latency) = render_tiny::<H>(24_000, &input, &timeline, false);
    let played: Vec<Vec<f32>> = output.iter().map(|c| c[stopped..].to_vec()).collect();
    let reference = golden("audio_out_2");
    let what = format!("{} playback from frame 50", H::NAME);
    let compared = compared_codec_samples();
    assert_reference_delayed(&played, 2, latency, &reference, compared, &what);
}

/// Hostile audio while playing at 24 kHz: noise, full-scale DC and square waves, denormals, then
/// blocks of NaN, +Inf, -Inf and 1e30, then the golden audio from a frame boundary of the
/// timeline. The output is finite throughout, and from the first clean block on (the bound:
/// no frame later) the plugin plays the reference `Vocos.forward(audio)` delayed by the
/// reported latency, within 1e-4 of its peak: the model restarted there and kept nothing of
/// what came before.
pub fn recovers_exactly_after_broken_input<H: Host>() {
    let host = H::NAME;
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
    let (output, latency) = render_tiny::<H>(24_000, &[input.clone(), input], &timeline, false);
    for (c, channel) in output.iter().enumerate() {
        assert_eq!(channel.len(), position, "{host}: length");
        if let Some(n) = channel.iter().position(|s| !s.is_finite()) {
            panic!("{host}, channel {c}: sample {n} is {}", channel[n]);
        }
        assert!(
            channel[..clean_from].iter().any(|&s| s.abs() > 1e-3),
            "{host}: nothing played before the broken input"
        );
    }
    let clean: Vec<Vec<f32>> = output.iter().map(|c| c[clean_from..].to_vec()).collect();
    let reference = golden("audio_out_2");
    let what = format!("{host} after NaN/Inf/1e30 input, from the first clean sample on");
    let compared = compared_codec_samples();
    assert_reference_delayed(&clean, 2, latency, &reference, compared, &what);
}

//! The `vocos` command-line tool end to end on the tiny fixtures: each command's output equals
//! the reference implementation's, and bad input fails with one clear line.

mod vocos_command;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use candle_core::{Device, Tensor};
use vocos_command::assert_success;

fn fixtures(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../model/tests/fixtures/tiny")
        .join(path)
}

fn goldens(name: &str) -> std::collections::HashMap<String, Tensor> {
    candle_core::safetensors::load(fixtures(name), &Device::Cpu).unwrap()
}

fn floats(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

fn scratch(name: &str) -> PathBuf {
    vocos_command::scratch("cli", name)
}

fn vocos(args: &[&dyn AsRef<OsStr>]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vocos"))
        .args(args)
        .output()
        .unwrap()
}

fn write_wav(path: &Path, channels: u16, rate: u32, interleaved: &[f32]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    interleaved.iter().for_each(|&s| w.write_sample(s).unwrap());
    w.finalize().unwrap();
}

fn read_wav(path: &Path) -> (hound::WavSpec, Vec<f32>) {
    let mut r = hound::WavReader::open(path).unwrap();
    (r.spec(), r.samples::<f32>().map(Result::unwrap).collect())
}

/// `vocos resynth` with the tiny EnCodec and Vocos at `kbps`, after the `options`.
fn resynth(options: &[&str], kbps: &str, input: &Path, output: &Path) -> Output {
    let (encodec, vocos_dir) = (fixtures("encodec_th"), fixtures("vocos_encodec"));
    let mut args: Vec<&dyn AsRef<OsStr>> = vec![&"resynth"];
    args.extend(options.iter().map(|o| o as &dyn AsRef<OsStr>));
    let models: [&dyn AsRef<OsStr>; 6] = [
        &"--encodec",
        &encodec,
        &"--vocos",
        &vocos_dir,
        &"--bandwidth",
        &kbps,
    ];
    args.extend(models);
    args.extend([&input as &dyn AsRef<OsStr>, &output]);
    vocos(&args)
}

/// `vocos resynth --streaming` at 6 kbps of `interleaved` audio written to a file `name`.wav
/// with `channels` at `rate`: the output, checked to have the same channels, rate and length.
fn streaming_resynth(
    dir: &Path,
    name: &str,
    channels: u16,
    rate: u32,
    interleaved: &[f32],
) -> Vec<f32> {
    let (input, output) = (
        dir.join(format!("{name}.wav")),
        dir.join(format!("{name}_out.wav")),
    );
    write_wav(&input, channels, rate, interleaved);
    assert_success(&resynth(&["--streaming"], "6", &input, &output));
    let (spec, out) = read_wav(&output);
    assert_eq!((spec.channels, spec.sample_rate), (channels, rate));
    assert_eq!(out.len(), interleaved.len());
    out
}

/// `vocos decode` of `codes` with the tiny Vocos at `kbps`.
fn decode(codes: &Path, kbps: &str, output: &Path) -> Output {
    let vocos_dir = fixtures("vocos_encodec");
    vocos(&[
        &"decode",
        &"--vocos",
        &vocos_dir,
        &"--bandwidth",
        &kbps,
        &codes,
        &output,
    ])
}

fn assert_close(stage: &str, actual: &[f32], expected: &[f32]) {
    assert_eq!(actual.len(), expected.len(), "{stage}: length");
    let peak = expected.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = actual
        .iter()
        .zip(expected)
        .fold(0f32, |m, (a, e)| m.max((a - e).abs()))
        / peak;
    println!("{stage}: max |error| / peak = {err:.3e}");
    assert!(err <= 1e-4, "{stage}: {err:.3e}");
}

#[test]
fn resynth_encode_decode_and_mel_equal_the_reference() {
    let dir = scratch("parity");
    let g = goldens("goldens_encodec.safetensors");
    let input = dir.join("in.wav");
    write_wav(&input, 1, 24_000, &floats(&g["audio"]));

    // resynth at 6 kbps = Vocos.forward(audio, bandwidth_id=2)
    let out = dir.join("resynth.wav");
    assert_success(&resynth(&[], "6", &input, &out));
    let (spec, audio) = read_wav(&out);
    assert_eq!(
        (
            spec.sample_rate,
            spec.channels,
            spec.bits_per_sample,
            spec.sample_format
        ),
        (24_000, 1, 32, hound::SampleFormat::Float)
    );
    assert_close("resynth 6 kbps", &audio, &floats(&g["audio_out_2"]));

    // encode at 6 kbps = EncodecModel.encode: int64 (8, T) readable by numpy.
    let codes_path = dir.join("codes.npy");
    assert_success(&vocos(&[
        &"encode",
        &"--encodec",
        &fixtures("encodec_hf"),
        &"--bandwidth",
        &"6",
        &input,
        &codes_path,
    ]));
    let bytes = std::fs::read(&codes_path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(npy.shape(), &[8, 113]);
    assert_eq!(npy.dtype().descr(), "'<i8'");
    let codes: Vec<i64> = npy.into_vec().unwrap();
    assert_eq!(
        codes,
        g["codes_6"]
            .flatten_all()
            .unwrap()
            .to_vec1::<i64>()
            .unwrap()
    );

    // decode of Bark-layout codes (8, 1, T) at 6 kbps = Vocos.decode(codes_to_features(codes), 2)
    let decoded = dir.join("bark.wav");
    assert_success(&decode(&fixtures("bark_codes.npy"), "6", &decoded));
    assert_close(
        "decode of Bark codes",
        &read_wav(&decoded).1,
        &floats(&g["decode_audio_out_2"]),
    );

    // decode of our own (n_q, T) file at 3 kbps uses its first 4 codebooks.
    let low = dir.join("low.wav");
    assert_success(&decode(&codes_path, "3", &low));
    assert_close(
        "decode of 6 kbps codes at 3 kbps",
        &read_wav(&low).1,
        &floats(&g["audio_out_1"]),
    );

    // mel variant
    let m = goldens("goldens_mel.safetensors");
    let mel_in = dir.join("mel_in.wav");
    write_wav(&mel_in, 1, 24_000, &floats(&m["audio"]));
    let mel_out = dir.join("mel.wav");
    assert_success(&vocos(&[
        &"mel",
        &"--vocos",
        &fixtures("vocos_mel"),
        &mel_in,
        &mel_out,
    ]));
    assert_close("mel", &read_wav(&mel_out).1, &floats(&m["audio_out"]));
}

#[test]
fn stereo_48k_input_is_downmixed_and_resampled() {
    let dir = scratch("stereo");
    let g = goldens("goldens_encodec.safetensors");
    let mono = floats(&g["audio"]);
    // 48 kHz stereo (sample-and-hold upsampling) with channels 1.5 x and 0.5 x the signal.
    let interleaved: Vec<f32> = mono
        .iter()
        .flat_map(|&s| [s * 1.5, s * 0.5, s * 1.5, s * 0.5])
        .collect();
    let input = dir.join("stereo48k.wav");
    write_wav(&input, 2, 48_000, &interleaved);
    let out = dir.join("out.wav");
    assert_success(&resynth(&[], "12", &input, &out));
    let (spec, audio) = read_wav(&out);
    assert_eq!(spec.sample_rate, 24_000);
    assert_eq!(
        audio.len(),
        mono.len().div_ceil(320) * 320,
        "24 kHz length, whole frames"
    );
    assert!(audio.iter().all(|s| s.is_finite()));
}

#[test]
fn errors_are_one_line_and_exit_non_zero() {
    let dir = scratch("errors");
    let input = dir.join("in.wav");
    write_wav(&input, 1, 24_000, &[0.0; 4000]);
    let (encodec_th, vocos_encodec, bark) = (
        fixtures("encodec_th"),
        fixtures("vocos_encodec"),
        fixtures("bark_codes.npy"),
    );
    let (out_wav, out_npy, missing) = (
        dir.join("o.wav"),
        dir.join("o.npy"),
        dir.join("missing.wav"),
    );
    let cases: Vec<(Vec<&dyn AsRef<OsStr>>, &str)> = vec![
        (
            vec![
                &"resynth",
                &"--encodec",
                &"/nonexistent/encodec.th",
                &"--vocos",
                &vocos_encodec,
                &"--bandwidth",
                &"6",
                &input,
                &out_wav,
            ],
            "/nonexistent/encodec.th",
        ),
        (
            vec![
                &"resynth",
                &"--encodec",
                &encodec_th,
                &"--vocos",
                &vocos_encodec,
                &"--bandwidth",
                &"5",
                &input,
                &out_wav,
            ],
            "5 kbps",
        ),
        (
            vec![&"mel", &"--vocos", &vocos_encodec, &input, &out_wav],
            "mel variant",
        ),
        (
            vec![
                &"decode",
                &"--vocos",
                &vocos_encodec,
                &"--bandwidth",
                &"12",
                &bark,
                &out_wav,
            ],
            "needs 16 codebooks",
        ),
        (
            vec![&"encode", &"--encodec", &encodec_th, &missing, &out_npy],
            "missing.wav",
        ),
    ];
    for (args, needle) in cases {
        let out = vocos(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "expected failure for {needle}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(needle), "`{needle}` not in: {stderr}");
    }
    let nan = dir.join("nan.wav");
    write_wav(&nan, 1, 24_000, &[0.0, f32::NAN, 0.0]);
    let out = vocos(&[&"encode", &"--encodec", &encodec_th, &nan, &out_npy]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not finite"));
}

/// `resynth --streaming` runs the plugin's engine: at 24 kHz its output equals the reference
/// `Vocos.forward` (6 kbps) up to where the end of the clip reaches back, latency removed; a
/// stereo 48 kHz file comes back stereo at 48 kHz, same length, finite.
#[test]
fn streaming_resynth_equals_the_reference_and_keeps_rate_and_channels() {
    let g = goldens("goldens_encodec.safetensors");
    let audio = floats(&g["audio"]);
    let reference = floats(&g["audio_out_2"]);
    let dir = scratch("streaming");
    let out = streaming_resynth(&dir, "24k", 1, 24_000, &audio);
    let compared = audio.len() - 9_440;
    assert_close(
        "streaming resynth 6 kbps",
        &out[..compared],
        &reference[..compared],
    );

    let stereo: Vec<f32> = audio.iter().flat_map(|&s| [s, -s]).collect();
    let out = streaming_resynth(&dir, "48k", 2, 48_000, &stereo);
    assert!(out.iter().all(|s| s.is_finite()) && out.iter().any(|&s| s != 0.0));
}

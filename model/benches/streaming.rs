//! Real-time factors (seconds of audio per second of compute) of the streaming stages, with
//! full-size random weights from `model/fixtures/generate.py --size full --out DIR`:
//!
//!     VOCOS_FULLSIZE_DIR=DIR cargo xtask bench        (one thread: RAYON_NUM_THREADS=1)
//!
//! Stages run one 320-sample frame (256 for the mel variant) per call unless the row says
//! otherwise; the plugin runs 4 frames per call with both channels of a stereo track in one
//! stream ("stereo, 4 frames"). Stereo rows give the real-time factor per channel: seconds of
//! audio of all channels per second of compute. Compute cost does not depend on the weight
//! values.

use std::time::Instant;

use candle_core::{Device, Tensor};
use vocos_dsp::istft::FrameSynthesizer;
use vocos_dsp::overlap_add::StreamingOverlapAdd;
use vocos_model::codec_stream::CodecStream;
use vocos_model::encodec::{Encodec, EncoderStream};
use vocos_model::mel_stream::MelStream;
use vocos_model::streaming::{Rows, StreamingModule};
use vocos_model::vocos::{Frontend, Vocos, VocosStream};

const SECONDS: usize = 20;
const RATE: usize = 24_000;
const KBPS: [&str; 4] = ["1.5", "3", "6", "12"];

/// A deterministic speech-like test signal: a few drifting partials and noise.
fn signal() -> Vec<f32> {
    let mut state = 12345u32;
    (0..SECONDS * RATE)
        .map(|n| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let t = n as f32 / RATE as f32;
            let f0 = 120.0 + 30.0 * (t * 0.7).sin();
            let voiced: f32 = (1..6)
                .map(|h| (std::f32::consts::TAU * f0 * h as f32 * t).sin() / h as f32)
                .sum();
            0.2 * voiced + 0.02 * (state as f32 / u32::MAX as f32 - 0.5)
        })
        .collect()
}

/// Runs `work` once and returns the real-time factor for `SECONDS` of audio.
fn rtf(work: impl FnOnce()) -> f64 {
    let start = Instant::now();
    work();
    SECONDS as f64 / start.elapsed().as_secs_f64()
}

fn row(stage: &str, rtf: f64, reference: &str) {
    println!("| {stage:<52} | {rtf:>7.1}x | {reference:<28} |");
}

/// The second channel of the stereo rows: the test signal reversed.
fn right_channel(audio: &[f32]) -> Vec<f32> {
    audio.iter().rev().copied().collect()
}

/// Pushes `channels` in chunks of `chunk` samples through `push`; returns the real-time factor
/// per channel.
fn rtf_channels(channels: &[&[f32]], chunk: usize, mut push: impl FnMut(&[&[f32]])) -> f64 {
    let len = channels[0].len();
    let r = rtf(|| {
        for start in (0..len).step_by(chunk) {
            let end = (start + chunk).min(len);
            let pieces: Vec<&[f32]> = channels.iter().map(|c| &c[start..end]).collect();
            push(&pieces);
        }
    });
    r * channels.len() as f64
}

/// Labels and channel sets of the configurations measured for the whole streams.
fn configurations<'a>(
    left: &'a [f32],
    right: &'a [f32],
) -> [(&'static str, Vec<&'a [f32]>, usize); 3] {
    [
        ("mono, 1 frame", vec![left], 1),
        ("mono, 4 frames", vec![left], 4),
        ("stereo, 4 frames", vec![left, right], 4),
    ]
}

fn peak_memory_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() {
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let (dir, weights) = vocos_model::random_weights::benchmark_models(cache).expect("models");
    println!("Models: {weights}");
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    println!("Streaming real-time factors, {SECONDS} s of audio, threads: {threads}\n");
    let encodec = Encodec::load(&dir.join("encodec_th")).expect("EnCodec weights");
    let vocos = Vocos::load(&dir.join("vocos_encodec")).expect("Vocos EnCodec-variant weights");
    let vocos_mel = Vocos::load(&dir.join("vocos_mel")).expect("Vocos mel-variant weights");
    let audio = signal();
    let hop = 320;

    println!(
        "| stage (1 frame per call unless stated)               | RTF      | reference PyTorch, 1 thread  |"
    );
    println!(
        "|------------------------------------------------------|----------|------------------------------|"
    );
    let right = right_channel(&audio);

    let mut latent = Rows::default();
    for (label, channels, frames) in configurations(&audio, &right) {
        let mut encoder = EncoderStream::new(encodec.encoder(), channels.len());
        latent.clear();
        let r = rtf_channels(&channels, frames * hop, |pieces| {
            let piece = Rows::new(pieces.concat(), pieces.len(), 1, Vec::new());
            encoder.step(&piece, &mut latent).unwrap();
        });
        row(
            &format!("EnCodec encoder, {label}"),
            r,
            "enc_q@6 15.3x (whole file)",
        );
    }
    // The first channel's frames.
    let frames = latent.len();
    let latent = latent.channel(0).to_vec();
    let width = latent.len() / frames;

    for (id, kbps) in KBPS.iter().enumerate() {
        let n_q = vocos.codebooks_for_id(id).unwrap();
        let r = rtf(|| {
            for frame in latent.chunks(width) {
                encodec.quantizer().encode_frames(frame, &[n_q]).unwrap();
            }
        });
        row(&format!("RVQ at {kbps} kbps ({n_q} codebooks)"), r, "");
    }

    let Frontend::Encodec { codebooks, .. } = &vocos.frontend else {
        unreachable!()
    };
    let dim = codebooks.dim;
    let features: Vec<f32> = (0..frames * dim)
        .map(|i| ((i * 7919) % 1000) as f32 * 1e-3 - 0.5)
        .collect();
    for (id, kbps) in KBPS.iter().enumerate() {
        let mut stream = VocosStream::new(&vocos, 1).unwrap();
        let mut out = Rows::default();
        let r = rtf(|| {
            for frame in features.chunks(dim) {
                let frame = Rows::new(frame.to_vec(), 1, dim, vec![id]);
                stream.step(&frame, &mut out).unwrap();
            }
        });
        row(
            &format!("Vocos backbone + head + ISTFT at {kbps} kbps"),
            r,
            "vocos_dec 64x (whole file)",
        );
    }
    for (label, channels, per_call) in [("mono, 4 frames", 1, 4), ("stereo, 4 frames", 2, 4)] {
        let mut stream = VocosStream::new(&vocos, channels).unwrap();
        let mut out = Rows::default();
        let r = rtf(|| {
            for chunk in features.chunks(per_call * dim) {
                let both: Vec<f32> = (0..channels).flat_map(|_| chunk.iter().copied()).collect();
                let n = chunk.len() / dim;
                let frames = Rows::new(both, channels, dim, vec![3; n]);
                stream.step(&frames, &mut out).unwrap();
            }
        });
        row(
            &format!("Vocos backbone + head + ISTFT, {label}"),
            r * channels as f64,
            "vocos_dec 64x (whole file)",
        );
    }

    let window = vocos.head.window().to_vec();
    let mut synth = FrameSynthesizer::new(1280, window.clone()).unwrap();
    let mut ola = StreamingOverlapAdd::new(&window, hop, vocos.head.padding()).unwrap();
    let (mag, phase): (Vec<f32>, Vec<f32>) = (0..641)
        .map(|i| (1.0 / (1.0 + i as f32), i as f32 * 0.1))
        .unzip();
    let mut frame = vec![0f32; 1280];
    let mut out = Vec::new();
    let r = rtf(|| {
        for _ in 0..frames {
            synth.synthesize_polar(&mag, &phase, &mut frame).unwrap();
            ola.push(&frame, &mut out).unwrap();
        }
    });
    row("ISTFT (irfft 1280 + overlap-add)", r, "");

    for (id, kbps) in KBPS.iter().enumerate() {
        for (label, channels, frames) in configurations(&audio, &right) {
            if id < 3 && frames > 1 {
                continue;
            }
            let mut stream =
                CodecStream::new(encodec.clone(), vocos.clone(), id, channels.len()).unwrap();
            let mut out = vec![Vec::with_capacity(audio.len()); channels.len()];
            let r = rtf_channels(&channels, frames * hop, |pieces| {
                stream.push(pieces, &mut out).unwrap()
            });
            row(
                &format!("whole pipeline at {kbps} kbps, {label}"),
                r,
                &format!("full@{kbps} ~12x (whole file)"),
            );
        }
    }

    for (label, channels, frames) in configurations(&audio, &right) {
        let mut mel = MelStream::new(&vocos_mel, channels.len()).unwrap();
        let mut out = vec![Vec::with_capacity(audio.len()); channels.len()];
        let r = rtf_channels(&channels, frames * mel.hop(), |pieces| {
            mel.push(pieces, &mut out).unwrap()
        });
        row(
            &format!("mel variant, whole pipeline, {label}"),
            r,
            "mel_dec 27.9x (whole file)",
        );
    }

    // Keep the compiler from discarding the work.
    let _ = Tensor::zeros(1, candle_core::DType::F32, &Device::Cpu);
    if let Some(mb) = peak_memory_mb() {
        println!("\npeak memory (VmHWM): {mb:.0} MB (all three models loaded)");
    }
}

//! Parity on full-size random weights (the real 24 kHz architecture), written by
//! `model/fixtures/generate.py --size full --out DIR`. Not committed (about 150 MB), so ignored:
//!
//!     VOCOS_FULLSIZE_DIR=/work/fullsize cargo test --release -p vocos_model --test full_size -- --ignored --nocapture

mod common;

use std::path::PathBuf;
use std::time::Instant;

use common::{
    assert_close, assert_close_where, assert_delayed, floats, goldens, ints, stream_channels,
};
use vocos_model::encodec::Encodec;
use vocos_model::streaming::{Rows, StreamingModule};
use vocos_model::vocos::Vocos;

fn dir() -> PathBuf {
    PathBuf::from(std::env::var("VOCOS_FULLSIZE_DIR").unwrap_or_else(|_| "/work/fullsize".into()))
}

#[test]
#[ignore = "needs full-size weights from model/fixtures/generate.py --size full"]
fn full_size_models_match_reference() {
    let g = goldens(dir().join("goldens_encodec.safetensors"));
    let start = Instant::now();
    let encodec = Encodec::load(&dir().join("encodec_th/encodec_24khz-d7cc33bc.th")).unwrap();
    println!(
        "EnCodec (.th, bare 24 kHz) load: {:.3} s",
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let encodec_hf = Encodec::load(&dir().join("encodec_hf")).unwrap();
    println!(
        "EnCodec (transformers dir) load: {:.3} s",
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let vocos = Vocos::load(&dir().join("vocos_encodec")).unwrap();
    println!(
        "Vocos EnCodec variant load: {:.3} s",
        start.elapsed().as_secs_f64()
    );

    let audio = floats(&g, "audio");
    let latent = encodec.encoder_output(&audio).unwrap();
    assert_close(
        "encoder output",
        &latent.flatten_all().unwrap().to_vec1().unwrap(),
        &floats(&g, "encoder_out"),
    );
    let margins = g["rvq_margin"].to_vec2::<f32>().unwrap();
    for (id, (kbps, key)) in [
        (1.5f32, "1.5"),
        (3.0, "3"),
        (6.0, "6"),
        (12.0, "12"),
        (24.0, "24"),
    ]
    .into_iter()
    .enumerate()
    {
        let expected = ints(&g, &format!("codes_{key}"));
        for (label, model) in [("th", &encodec), ("transformers", &encodec_hf)] {
            let codes = model.encode(&audio, kbps).unwrap();
            // With 128-dimensional latents of magnitude ~30, the encoder's float error (~1e-5 of
            // its peak) moves distances by ~1e-2: flips are reported with their margins.
            let mut flips = Vec::new();
            for t in 0..expected[0].len() {
                if let Some(q) =
                    (0..expected.len()).find(|&q| i64::from(codes.rows[q][t]) != expected[q][t])
                {
                    flips.push(margins[q][t]);
                }
            }
            let worst = flips.iter().copied().fold(0f32, f32::max);
            println!(
                "{label} codes at {key} kbps: {} flips of {} frames, largest margin {worst:.2e}",
                flips.len(),
                expected[0].len()
            );
            assert!(
                worst < 1e-2 && flips.len() * 50 < expected[0].len(),
                "{label} {key} kbps: flips {flips:?}"
            );
        }
        if id < 4 {
            let reference_codes: Vec<Vec<u32>> = expected
                .iter()
                .map(|r| r.iter().map(|&c| c as u32).collect())
                .collect();
            let features = vocos.codes_to_features(&reference_codes).unwrap();
            let hidden = vocos.backbone(&features, Some(id)).unwrap();
            assert_close(
                &format!("backbone id {id}"),
                &hidden.flatten_all().unwrap().to_vec1().unwrap(),
                &floats(&g, &format!("backbone_{id}")),
            );
            let out = vocos.decode(&features, Some(id)).unwrap();
            assert_close(
                &format!("audio id {id} (reference codes)"),
                &out,
                &floats(&g, &format!("audio_out_{id}")),
            );
        }
    }

    let m = goldens(dir().join("goldens_mel.safetensors"));
    let start = Instant::now();
    let mel = Vocos::load(&dir().join("vocos_mel")).unwrap();
    println!(
        "Vocos mel variant load: {:.3} s",
        start.elapsed().as_secs_f64()
    );
    let audio = floats(&m, "audio");
    let features = mel.mel_features(&audio).unwrap();
    assert_close(
        "mel features",
        &features.flatten_all().unwrap().to_vec1().unwrap(),
        &floats(&m, "mel"),
    );
    let hidden = mel.backbone(&features, None).unwrap();
    assert_close(
        "mel backbone",
        &hidden.flatten_all().unwrap().to_vec1().unwrap(),
        &floats(&m, "backbone"),
    );
    assert_close(
        "mel audio",
        &mel.resynthesize_mel(&audio).unwrap(),
        &floats(&m, "audio_out"),
    );
}

/// The streaming pipelines on full-size weights. Codes may flip where the reference itself is a
/// near tie (margins below 1e-2, as offline; the streamed encoder rounds differently); a flipped
/// frame changes the audio within the backbone's reach (27 frames each side), so the audio is
/// compared everywhere else, within 1e-4 of the reference peak. The mel variant has no codes and
/// is compared everywhere.
#[test]
#[ignore = "needs full-size weights from model/fixtures/generate.py --size full"]
fn full_size_streams_match_reference() {
    use vocos_model::codec_stream::CodecStream;
    use vocos_model::encodec::EncoderStream;
    use vocos_model::mel_stream::MelStream;
    let g = goldens(dir().join("goldens_encodec.safetensors"));
    let audio = floats(&g, "audio");
    let margins = g["rvq_margin"].to_vec2::<f32>().unwrap();
    let encodec = Encodec::load(&dir().join("encodec_th")).unwrap();
    let vocos = Vocos::load(&dir().join("vocos_encodec")).unwrap();
    for (id, key) in ["1.5", "3", "6", "12"].into_iter().enumerate() {
        let n_q = vocos.codebooks_for_id(id).unwrap();
        let expected = ints(&g, &format!("codes_{key}"));
        let reference = floats(&g, &format!("audio_out_{id}"));
        let chunkings: &[usize] = if id == 3 { &[1, 333, 4096] } else { &[320] };
        for &chunk in chunkings {
            // The codes the stream computes: the streamed encoder with the same chunking.
            let mut encoder = EncoderStream::new(encodec.encoder(), 1);
            let mut latent = Rows::default();
            for piece in audio.chunks(chunk) {
                let piece = Rows::new(piece.to_vec(), 1, 1, Vec::new());
                encoder.step(&piece, &mut latent).unwrap();
            }
            let frames = latent.len();
            let codes = encodec
                .quantizer()
                .encode_frames(latent.data(), &vec![n_q; frames])
                .unwrap();
            let differs = |q: usize, t: usize| i64::from(codes[t][q]) != expected[q][t];
            let flipped: Vec<usize> = (0..frames)
                .filter(|&t| (0..n_q).any(|q| differs(q, t)))
                .collect();
            // A frame's first differing codebook is the tie; later ones follow from its residual.
            let worst_margin = flipped
                .iter()
                .map(|&t| {
                    let q = (0..n_q).find(|&q| differs(q, t)).unwrap();
                    margins[q][t]
                })
                .fold(0f32, f32::max);
            println!(
                "full-size stream codes at {key} kbps, chunks of {chunk}: {} of {frames} frames flipped, largest margin {worst_margin:.2e}",
                flipped.len()
            );
            assert!(worst_margin < 1e-2 && flipped.len() * 50 < frames);

            let mut stream = CodecStream::new(encodec.clone(), vocos.clone(), id, 1).unwrap();
            let out = stream_channels(&[&audio], chunk, |p, o| stream.push(p, o).unwrap());
            let reach = |t: usize| {
                let lo = ((t as i64 - 28) * 320 - 480).max(0) as usize;
                lo..(t + 28) * 320 + 800
            };
            let latency = stream.latency();
            let n = out[0].len() - latency;
            assert_close_where(
                &format!(
                    "full-size stream, {key} kbps, chunks of {chunk}, outside flipped frames' reach"
                ),
                &out[0][latency..],
                &reference[..n],
                |n| !flipped.iter().any(|&t| reach(t).contains(&n)),
            );
        }
    }
    let g = goldens(dir().join("goldens_mel.safetensors"));
    let audio = floats(&g, "audio");
    let reference = floats(&g, "audio_out");
    let mut stream = MelStream::new(&Vocos::load(&dir().join("vocos_mel")).unwrap(), 1).unwrap();
    for chunk in [1, 4096] {
        stream.reset();
        let out = stream_channels(&[&audio], chunk, |p, o| stream.push(p, o).unwrap());
        assert_delayed(
            &format!("full-size mel stream, chunks of {chunk}"),
            &out[0],
            stream.latency(),
            &reference,
        );
    }
}

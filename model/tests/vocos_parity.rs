//! Vocos (both variants) against the reference (vocos 0.1.0) on the tiny fixtures: every stage,
//! the whole `Vocos.forward`, decoding of Bark-like codes, and loading errors.

mod common;

use common::{assert_close, assert_close_where, floats, goldens, ints, scratch, tiny};
use vocos_model::encodec::Encodec;
use vocos_model::error::ModelError;
use vocos_model::vocos::Vocos;

fn to_vec(t: &candle_core::Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

/// The head's linear layer on hidden states `(T, dim)`, in the reference's layout
/// `(n_fft + 2, T)`.
fn head_linear(vocos: &Vocos, hidden: &candle_core::Tensor) -> Vec<f32> {
    let frames = hidden.dim(0).unwrap();
    let rows = vocos.head.linear(&to_vec(hidden));
    let width = rows.len() / frames;
    to_vec(
        &candle_core::Tensor::from_vec(rows, (frames, width), &candle_core::Device::Cpu)
            .unwrap()
            .t()
            .unwrap(),
    )
}

fn codes_u32(rows: Vec<Vec<i64>>) -> Vec<Vec<u32>> {
    rows.into_iter()
        .map(|r| r.into_iter().map(|c| c as u32).collect())
        .collect()
}

#[test]
fn encodec_variant_stages_match_reference_at_every_bandwidth() {
    let g = goldens(tiny("goldens_encodec.safetensors"));
    let vocos = Vocos::load(&tiny("vocos_encodec")).unwrap();
    for (id, key) in ["1.5", "3", "6", "12"].iter().enumerate() {
        let codes = codes_u32(ints(&g, &format!("codes_{key}")));
        let features = vocos.codes_to_features(&codes).unwrap();
        assert_close(
            &format!("features id {id}"),
            &to_vec(&features),
            &floats(&g, &format!("features_{id}")),
        );
        let hidden = vocos.backbone(&features, Some(id)).unwrap();
        assert_close(
            &format!("backbone id {id}"),
            &to_vec(&hidden),
            &floats(&g, &format!("backbone_{id}")),
        );
        if id == 0 {
            assert_close(
                "head linear id 0",
                &head_linear(&vocos, &hidden),
                &floats(&g, "head_0"),
            );
        }
        let audio = vocos.decode(&features, Some(id)).unwrap();
        assert_close(
            &format!("decoded audio id {id}"),
            &audio,
            &floats(&g, &format!("audio_out_{id}")),
        );
    }
}

/// Frames where `ours` differs from the reference codes; each must be a genuine near-tie
/// (best and second-best reference distances within 1e-3).
fn flipped_frames(ours: &[Vec<u32>], reference: &[Vec<i64>], margins: &[Vec<f32>]) -> Vec<usize> {
    (0..reference[0].len())
        .filter(|&t| {
            let first = (0..reference.len()).find(|&q| i64::from(ours[q][t]) != reference[q][t]);
            if let Some(q) = first {
                assert!(
                    margins[q][t] < 1e-3,
                    "code {q},{t} differs with margin {}",
                    margins[q][t]
                );
            }
            first.is_some()
        })
        .collect()
}

/// Compares audio only where no flipped frame is in the receptive field: output sample `n` of
/// the `same`-padded head depends on feature frames `floor((n + 480) / 320) - 27 - 3 ..= +27`.
fn assert_close_away_from(stage: &str, actual: &[f32], expected: &[f32], flipped: &[usize]) {
    let reach = |n: usize| ((n + 480) / 320) as i64;
    assert_close_where(stage, actual, expected, |n| {
        flipped.iter().all(|&f| (reach(n) - f as i64).abs() > 31)
    });
}

#[test]
fn full_forward_from_audio_matches_reference() {
    // Vocos.forward(audio, bandwidth_id): EnCodec encode -> codes -> Vocos decode.
    let g = goldens(tiny("goldens_encodec.safetensors"));
    let margins = g["rvq_margin"].to_vec2::<f32>().unwrap();
    let encodec = Encodec::load(&tiny("encodec_th")).unwrap();
    let vocos = Vocos::load(&tiny("vocos_encodec")).unwrap();
    let audio = floats(&g, "audio");
    for (id, (kbps, key)) in [(1.5f32, "1.5"), (3.0, "3"), (6.0, "6"), (12.0, "12")]
        .into_iter()
        .enumerate()
    {
        assert_eq!(vocos.bandwidth_id(kbps).unwrap(), id);
        let codes = encodec.encode(&audio, kbps).unwrap();
        assert_eq!(codes.num_codebooks(), vocos.codebooks_for_id(id).unwrap());
        let flipped = flipped_frames(&codes.rows, &ints(&g, &format!("codes_{key}")), &margins);
        let out = vocos.decode_codes(&codes.rows, id).unwrap();
        let expected = floats(&g, &format!("audio_out_{id}"));
        assert_close_away_from(
            &format!("Vocos.forward at {kbps} kbps"),
            &out,
            &expected,
            &flipped,
        );
    }
    let short = floats(&g, "short_audio");
    let out = vocos
        .decode_codes(&encodec.encode(&short, 12.0).unwrap().rows, 3)
        .unwrap();
    assert_close(
        "Vocos.forward of a 1000-sample input",
        &out,
        &floats(&g, "short_audio_out_3"),
    );
}

#[test]
fn bark_like_codes_decode_like_reference() {
    let g = goldens(tiny("goldens_encodec.safetensors"));
    let vocos = Vocos::load(&tiny("vocos_encodec")).unwrap();
    let out = vocos
        .decode_codes(&codes_u32(ints(&g, "decode_codes")), 2)
        .unwrap();
    assert_close(
        "decode of 8 random codebooks at id 2",
        &out,
        &floats(&g, "decode_audio_out_2"),
    );
}

#[test]
fn mel_variant_stages_match_reference() {
    let g = goldens(tiny("goldens_mel.safetensors"));
    let vocos = Vocos::load(&tiny("vocos_mel")).unwrap();
    assert!(vocos.is_mel());
    for (prefix, audio) in [("", "audio"), ("short_", "short_audio")] {
        let audio = floats(&g, audio);
        let mel = vocos.mel_features(&audio).unwrap();
        assert_close(
            &format!("{prefix}mel features"),
            &to_vec(&mel),
            &floats(&g, &format!("{prefix}mel")),
        );
        let out = vocos.resynthesize_mel(&audio).unwrap();
        assert_close(
            &format!("{prefix}mel-variant audio"),
            &out,
            &floats(&g, &format!("{prefix}audio_out")),
        );
    }
    let mel = vocos.mel_features(&floats(&g, "audio")).unwrap();
    let hidden = vocos.backbone(&mel, None).unwrap();
    assert_close("mel backbone", &to_vec(&hidden), &floats(&g, "backbone"));
    assert_close(
        "mel head linear",
        &head_linear(&vocos, &hidden),
        &floats(&g, "head"),
    );
}

#[test]
fn computed_mel_filterbank_equals_torchaudio() {
    let checkpoint =
        vocos_model::checkpoint::Checkpoint::load(&tiny("vocos_mel/pytorch_model.bin")).unwrap();
    let reference = to_vec(
        &checkpoint
            .tensor("feature_extractor.mel_spec.mel_scale.fb", &[513, 100])
            .unwrap(),
    );
    let computed = vocos_dsp::mel::htk_filterbank(513, 0.0, 12_000.0, 100, 24_000.0);
    assert_close("HTK filterbank", &computed, &reference);
}

#[test]
fn wrong_inputs_are_errors() {
    let vocos = Vocos::load(&tiny("vocos_encodec")).unwrap();
    assert!(matches!(
        vocos.bandwidth_id(24.0),
        Err(ModelError::Bandwidth { kbps: 24.0, .. })
    ));
    assert!(matches!(
        vocos.decode_codes(&[vec![1024, 0]], 0),
        Err(ModelError::CodeOutOfRange { code: 1024, .. })
    ));
    assert!(matches!(
        vocos.decode_codes(&vec![vec![0, 0]; 17], 3),
        Err(ModelError::CodebookCount { given: 17, max: 16 })
    ));
    let features = vocos.codes_to_features(&[vec![1, 2, 3]]).unwrap();
    assert!(matches!(
        vocos.decode(&features, None),
        Err(ModelError::MissingBandwidthId)
    ));
    let mel = Vocos::load(&tiny("vocos_mel")).unwrap();
    assert!(
        matches!(
            mel.mel_features(&[0.1; 100]),
            Err(ModelError::Mel(vocos_dsp::stft::StftError::TooShort {
                len: 100,
                pad: 512
            }))
        ),
        "shorter than the reflect padding"
    );
    assert!(matches!(
        mel.mel_features(&[f32::INFINITY; 2000]),
        Err(ModelError::NonFiniteAudio { sample: 0 })
    ));
}

#[test]
fn loading_errors_name_the_file_and_the_problem() {
    // Missing tensor: drop one from the mel checkpoint.
    let dir = scratch("vocos_missing");
    std::fs::copy(tiny("vocos_mel/config.yaml"), dir.join("config.yaml")).unwrap();
    let ckpt =
        vocos_model::checkpoint::Checkpoint::load(&tiny("vocos_mel/pytorch_model.bin")).unwrap();
    let tensors: std::collections::HashMap<String, candle_core::Tensor> = ckpt
        .names()
        .filter(|n| *n != "backbone.convnext.3.pwconv2.bias")
        .map(|n| {
            (
                n.to_owned(),
                (1..=3)
                    .find_map(|r| ckpt.tensor_of_rank(n, r).ok())
                    .unwrap(),
            )
        })
        .collect();
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
    let err = Vocos::load(&dir).err().unwrap().to_string();
    assert!(
        err.contains("backbone.convnext.3.pwconv2.bias") && err.contains("model.safetensors"),
        "{err}"
    );

    // Config that does not match the weights: wrong dim.
    let dir = scratch("vocos_wrong_dim");
    let yaml = std::fs::read_to_string(tiny("vocos_mel/config.yaml"))
        .unwrap()
        .replace("dim: 32", "dim: 48");
    std::fs::write(dir.join("config.yaml"), yaml).unwrap();
    std::fs::copy(
        tiny("vocos_mel/pytorch_model.bin"),
        dir.join("pytorch_model.bin"),
    )
    .unwrap();
    let err = Vocos::load(&dir).err().unwrap();
    assert!(
        matches!(&err, ModelError::DoesNotFitConfig { source, .. }
            if matches!(**source, ModelError::ShapeMismatch { .. }))
            && err.to_string().contains("config.yaml")
            && err.to_string().contains("pytorch_model.bin"),
        "{err}"
    );

    // Corrupt config.
    let dir = scratch("vocos_bad_yaml");
    std::fs::write(dir.join("config.yaml"), "backbone: [unclosed").unwrap();
    std::fs::copy(
        tiny("vocos_mel/pytorch_model.bin"),
        dir.join("pytorch_model.bin"),
    )
    .unwrap();
    let err = Vocos::load(&dir).err().unwrap();
    assert!(
        matches!(err, ModelError::Config { .. }) && err.to_string().contains("config.yaml"),
        "{err}"
    );

    // No config at all.
    let err = Vocos::load(&tiny("encodec_hf")).err().unwrap();
    assert!(err.to_string().contains("config.yaml"), "{err}");
}

//! EnCodec encoder and RVQ against the reference (encodec 0.1.1 / transformers 5.24) on the tiny
//! fixtures, in every checkpoint layout, plus edge cases of the input and the loading errors.
//!
//!     cargo test -p vocos_model --test encodec_parity -- --nocapture
//!
//! The full-size check (random weights of the real 24 kHz architecture, not committed) is ignored:
//!
//!     VOCOS_FULLSIZE_DIR=/work/fullsize cargo test --release -p vocos_model --test encodec_parity -- --ignored --nocapture

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use common::{assert_close, floats, goldens, ints, relative_error, scratch, tiny};
use vocos_model::checkpoint::Checkpoint;
use vocos_model::encodec::{Codes, Encodec, EncodecConfig, Layout};
use vocos_model::error::ModelError;

const BANDWIDTHS: [(f32, &str); 5] = [
    (1.5, "1.5"),
    (3.0, "3"),
    (6.0, "6"),
    (12.0, "12"),
    (24.0, "24"),
];

/// A code that differs from the reference: codebook, frame, reference margin.
#[derive(Debug)]
struct Flip {
    q: usize,
    t: usize,
    margin: f32,
}

/// Codes that differ from the reference's, frame by frame. After the first difference in a frame
/// the residuals differ, so later codebooks of that frame are not compared.
fn flips(label: &str, actual: &Codes, expected: &[Vec<i64>], margins: &[Vec<f32>]) -> Vec<Flip> {
    assert_eq!(
        actual.rows.len(),
        expected.len(),
        "{label}: number of codebooks"
    );
    let frames = expected[0].len();
    for (q, row) in actual.rows.iter().enumerate() {
        assert_eq!(row.len(), frames, "{label}: frames of codebook {q}");
    }
    (0..frames)
        .filter_map(|t| {
            let q =
                (0..expected.len()).find(|&q| i64::from(actual.rows[q][t]) != expected[q][t])?;
            Some(Flip {
                q,
                t,
                margin: margins[q][t],
            })
        })
        .collect()
}

/// Asserts every flip is a genuine near-tie and reports them. Our latent frame differs from the
/// reference's by `delta` (float rounding), so between codebook rows `a` (the reference's code)
/// and `b` (ours) the squared distances `|r - E_a|^2 - |r - E_b|^2` differ from the reference's by
/// `2 delta . (E_b - E_a)`: a flip is a genuine near-tie when the reference's margin is below
/// `2 |delta| |E_a - E_b|`, what our measured rounding can account for. (The residuals of both
/// sides differ by the same `delta` up to the flip: the codes before it are the same.)
fn assert_codes(
    label: &str,
    model: &Encodec,
    latent: &Tensor,
    reference_latent: &Tensor,
    expected: &[Vec<i64>],
    margins: &[Vec<f32>],
    actual: &Codes,
) {
    let flips = flips(label, actual, expected, margins);
    println!(
        "{label}: {} codebooks x {} frames, {} near-tie flips {flips:?}",
        actual.rows.len(),
        expected[0].len(),
        flips.len()
    );
    let frame = |t: &Tensor, f: usize| -> Vec<f32> {
        to_vec(&t.squeeze(0).unwrap().t().unwrap().get(f).unwrap())
    };
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    for flip in &flips {
        let delta: Vec<f32> = frame(latent, flip.t)
            .iter()
            .zip(frame(reference_latent, flip.t))
            .map(|(a, b)| a - b)
            .collect();
        let embed = &model.quantizer().codebooks[flip.q].embed;
        let row = |code: usize| to_vec(&embed.get(code).unwrap());
        let (ours, theirs) = (
            row(actual.rows[flip.q][flip.t] as usize),
            row(expected[flip.q][flip.t] as usize),
        );
        let apart: Vec<f32> = ours.iter().zip(&theirs).map(|(a, b)| a - b).collect();
        let bound = 2.0 * norm(&delta) * norm(&apart);
        assert!(
            f64::from(flip.margin) <= bound,
            "{label}: code {},{} differs from the reference with margin {}, more than our \
             rounding accounts for ({bound:.3e})",
            flip.q,
            flip.t,
            flip.margin
        );
    }
}

fn to_vec(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

/// Encoder output and codes at every bandwidth against the goldens.
fn check_model(label: &str, model: &Encodec) {
    let g = goldens(tiny("goldens_encodec.safetensors"));
    let audio = floats(&g, "audio");
    let latent = model.encoder_output(&audio).unwrap();
    assert_eq!(
        latent.dims(),
        g["encoder_out"].dims(),
        "{label}: encoder output shape"
    );
    assert_close(
        &format!("{label} encoder output"),
        &to_vec(&latent),
        &floats(&g, "encoder_out"),
    );
    let margins = g["rvq_margin"].to_vec2::<f32>().unwrap();
    for (kbps, key) in BANDWIDTHS {
        assert_codes(
            &format!("{label} codes at {key} kbps"),
            model,
            &latent,
            &g["encoder_out"],
            &ints(&g, &format!("codes_{key}")),
            &margins,
            &model.encode(&audio, kbps).unwrap(),
        );
    }
}

#[test]
fn original_th_layout_matches_reference() {
    let model = Encodec::load(&tiny("encodec_th")).unwrap();
    check_model("th dir", &model);
    // A file path works as well as its directory (config.json is read beside it).
    check_model(
        "th file",
        &Encodec::load(&tiny("encodec_th/encodec_24khz.th")).unwrap(),
    );
}

#[test]
fn transformers_layout_matches_reference() {
    let model = Encodec::load(&tiny("encodec_hf")).unwrap();
    check_model("transformers dir", &model);
}

/// Every tensor of the checkpoint at `source`, as stored.
fn all_tensors(source: &Path) -> HashMap<String, Tensor> {
    let checkpoint = Checkpoint::load(source).unwrap();
    let names: Vec<String> = checkpoint.names().map(str::to_owned).collect();
    names
        .into_iter()
        .map(|n| {
            let dims = checkpoint.dims(&n).unwrap().to_vec();
            let tensor = checkpoint.tensor(&n, &dims).unwrap();
            (n, tensor)
        })
        .collect()
}

/// Writes the tensors of `source`, renamed by `rename`, as `dest` (safetensors).
fn resave(source: &Path, dest: &Path, rename: impl Fn(&str) -> String) {
    let tensors: HashMap<String, Tensor> = all_tensors(source)
        .into_iter()
        .map(|(n, t)| (rename(&n), t))
        .collect();
    candle_core::safetensors::save(&tensors, dest).unwrap();
}

#[test]
fn safetensors_with_original_names_matches_reference() {
    let dir = scratch("encodec_original_safetensors");
    std::fs::copy(tiny("encodec_th/config.json"), dir.join("config.json")).unwrap();
    let original = dir.join("encodec.safetensors");
    resave(
        &tiny("encodec_th/encodec_24khz.th"),
        &original,
        str::to_owned,
    );
    assert_eq!(
        Layout::detect(&Checkpoint::load(&original).unwrap(), "").unwrap(),
        Layout::Original
    );
    check_model(
        "original-names safetensors",
        &Encodec::load(&original).unwrap(),
    );
}

#[test]
fn transformers_dir_with_legacy_weight_norm_names_matches_reference() {
    let dir = scratch("encodec_legacy_names");
    std::fs::copy(tiny("encodec_hf/config.json"), dir.join("config.json")).unwrap();
    let weights = dir.join("model.safetensors");
    resave(&tiny("encodec_hf/model.safetensors"), &weights, |n| {
        n.replace("parametrizations.weight.original0", "weight_g")
            .replace("parametrizations.weight.original1", "weight_v")
    });
    assert_eq!(
        Layout::detect(&Checkpoint::load(&weights).unwrap(), "").unwrap(),
        Layout::TransformersLegacy
    );
    check_model("legacy transformers names", &Encodec::load(&dir).unwrap());
}

#[test]
fn full_vocos_state_dict_with_encodec_prefix_matches_reference() {
    // `Vocos.state_dict()` holds EnCodec under `feature_extractor.encodec.`.
    let dir = scratch("encodec_in_vocos_state_dict");
    std::fs::copy(tiny("encodec_th/config.json"), dir.join("config.json")).unwrap();
    let path = dir.join("vocos_full.safetensors");
    let mut tensors: HashMap<String, Tensor> = all_tensors(&tiny("encodec_th/encodec_24khz.th"))
        .into_iter()
        .map(|(n, t)| (format!("feature_extractor.encodec.{n}"), t))
        .collect();
    tensors.extend(all_tensors(&tiny("vocos_encodec/pytorch_model.bin")));
    candle_core::safetensors::save(&tensors, &path).unwrap();
    check_model("full Vocos state dict", &Encodec::load(&path).unwrap());
}

#[test]
fn codes_to_embeddings_sum_the_codebook_rows() {
    // Vocos' features are the sum of EnCodec codebook rows (its codebook_weights copy codebooks
    // 0..15), so the goldens `features_{id}` are the quantized latent of `codes_{bandwidth}`.
    let g = goldens(tiny("goldens_encodec.safetensors"));
    let model = Encodec::load(&tiny("encodec_th")).unwrap();
    for (id, key) in ["1.5", "3", "6", "12"].iter().enumerate() {
        let rows = ints(&g, &format!("codes_{key}"))
            .into_iter()
            .map(|r| r.into_iter().map(|c| c as u32).collect())
            .collect();
        let latent = model.quantizer().decode(&Codes { rows }).unwrap();
        assert_close(
            &format!("embeddings of codes_{key}"),
            &to_vec(&latent),
            &floats(&g, &format!("features_{id}")),
        );
    }
    let out_of_range = Codes {
        rows: vec![vec![0, 1024]],
    };
    assert!(matches!(
        model.quantizer().decode(&out_of_range),
        Err(ModelError::CodeOutOfRange {
            code: 1024,
            codebook: 0,
            frame: 1,
            bins: 1024
        })
    ));
    let too_many = Codes {
        rows: vec![vec![0]; 33],
    };
    assert!(matches!(
        model.quantizer().decode(&too_many),
        Err(ModelError::CodebookCount { given: 33, max: 32 })
    ));
}

#[test]
fn input_shorter_than_the_padding_matches_reference() {
    let g = goldens(tiny("goldens_encodec.safetensors"));
    let model = Encodec::load(&tiny("encodec_th")).unwrap();
    let short = floats(&g, "short_audio");
    let codes = model.encode(&short, 12.0).unwrap();
    let expected = ints(&g, "short_codes_12");
    assert_eq!(codes.num_frames(), short.len().div_ceil(320));
    let actual: Vec<Vec<i64>> = codes
        .rows
        .iter()
        .map(|r| r.iter().map(|&c| i64::from(c)).collect())
        .collect();
    assert_eq!(actual, expected);
}

#[test]
fn any_nonempty_length_gives_ceil_len_over_hop_frames() {
    let model = Encodec::load(&tiny("encodec_th")).unwrap();
    for len in [1usize, 2, 3, 6, 7, 319, 320, 321, 641] {
        let audio: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin() * 0.5).collect();
        let latent = model.encoder_output(&audio).unwrap();
        assert_eq!(latent.dims(), [1, 4, len.div_ceil(320)], "length {len}");
        assert!(
            to_vec(&latent).iter().all(|v| v.is_finite()),
            "length {len}"
        );
        assert_eq!(
            model.encode(&audio, 6.0).unwrap().num_frames(),
            len.div_ceil(320)
        );
    }
}

#[test]
fn bandwidth_sets_the_number_of_codebooks() {
    let config = EncodecConfig::default();
    let n_q: Vec<usize> = [1.5, 3.0, 6.0, 12.0, 24.0]
        .iter()
        .map(|&b| config.codebooks_for_bandwidth(b))
        .collect();
    assert_eq!(n_q, [2, 4, 8, 16, 32]);
    assert_eq!(config.codebooks_for_bandwidth(0.1), 1);
    let model = Encodec::load(&tiny("encodec_th")).unwrap();
    assert_eq!(model.quantizer().codebooks.len(), 32);
    for (kbps, n_q) in [(1.5, 2), (3.0, 4), (6.0, 8), (12.0, 16), (24.0, 32)] {
        assert_eq!(
            model.encode(&[0.1; 400], kbps).unwrap().num_codebooks(),
            n_q
        );
    }
    // Lower bandwidths are prefixes of higher ones.
    let audio: Vec<f32> = (0..4000).map(|i| (i as f32 * 0.01).sin()).collect();
    let (low, high) = (
        model.encode(&audio, 3.0).unwrap(),
        model.encode(&audio, 24.0).unwrap(),
    );
    assert_eq!(low.rows[..], high.rows[..4]);
    for kbps in [5.0, 0.0, -1.5, f32::NAN] {
        assert!(
            matches!(
                model.encode(&[0.0; 400], kbps),
                Err(ModelError::Bandwidth { .. })
            ),
            "{kbps}"
        );
    }
}

#[test]
fn bad_audio_is_an_error() {
    let model = Encodec::load(&tiny("encodec_th")).unwrap();
    assert!(matches!(
        model.encode(&[], 6.0),
        Err(ModelError::EmptyAudio)
    ));
    assert!(matches!(
        model.encode(&[0.0, f32::NAN, 0.0], 6.0),
        Err(ModelError::NonFiniteAudio { sample: 1 })
    ));
    assert!(matches!(
        model.encoder_output(&[f32::INFINITY]),
        Err(ModelError::NonFiniteAudio { sample: 0 })
    ));
}

// ---- loading errors: each names the file and, where one is at fault, the tensor ----

/// Saves the tiny `.th` tensors after `edit` as `model.safetensors` in a fresh directory with the
/// tiny config, and returns the weights path and the loading error.
fn load_modified(
    name: &str,
    edit: impl FnOnce(&mut HashMap<String, Tensor>),
) -> (PathBuf, ModelError) {
    let dir = scratch(name);
    std::fs::copy(tiny("encodec_th/config.json"), dir.join("config.json")).unwrap();
    let mut tensors = all_tensors(&tiny("encodec_th/encodec_24khz.th"));
    edit(&mut tensors);
    let path = dir.join("model.safetensors");
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let err = Encodec::load(&dir).err().expect("loading must fail");
    (path, err)
}

/// The error behind the `DoesNotFitConfig` that a load with a config.json wraps a missing tensor
/// or a wrong shape in; that wrapper also names the config.
fn unfit(err: &ModelError) -> &ModelError {
    match err {
        ModelError::DoesNotFitConfig { source, config } => {
            assert!(config.ends_with("config.json"), "{err}");
            source
        }
        other => other,
    }
}

fn assert_names(err: &ModelError, path: &Path, tensor: &str) {
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "error does not name the file: {msg}"
    );
    assert!(
        msg.contains(tensor),
        "error does not name the tensor: {msg}"
    );
}

#[test]
fn missing_tensor_is_named() {
    for victim in [
        "encoder.model.13.lstm.weight_hh_l1",
        "quantizer.vq.layers.31._codebook.embed",
        "encoder.model.4.shortcut.conv.conv.weight_g",
    ] {
        let (path, err) = load_modified("missing_tensor", |t| {
            t.remove(victim);
        });
        assert!(
            matches!(unfit(&err), ModelError::MissingTensor { .. }),
            "{err}"
        );
        assert_names(&err, &path, victim);
    }
}

#[test]
fn wrong_shape_is_named() {
    let victim = "encoder.model.15.conv.conv.bias";
    let (path, err) = load_modified("wrong_shape", |t| {
        t.insert(
            victim.into(),
            Tensor::zeros(7, DType::F32, &Device::Cpu).unwrap(),
        );
    });
    assert!(
        matches!(unfit(&err), ModelError::ShapeMismatch { expected, actual, .. } if expected == &[4] && actual == &[7]),
        "{err}"
    );
    assert_names(&err, &path, victim);
}

#[test]
fn wrong_dtype_is_named() {
    let victim = "encoder.model.0.conv.conv.weight_g";
    let (path, err) = load_modified("wrong_dtype", |t| {
        let int = t[victim].to_dtype(DType::I64).unwrap();
        t.insert(victim.into(), int);
    });
    assert!(matches!(err, ModelError::DType { .. }), "{err}");
    assert_names(&err, &path, victim);
}

#[test]
fn non_finite_weights_are_named() {
    let victim = "quantizer.vq.layers.0._codebook.embed";
    let (path, err) = load_modified("non_finite", |t| {
        let nan = (t[victim].clone() * f64::NAN).unwrap();
        t.insert(victim.into(), nan);
    });
    assert!(matches!(err, ModelError::NonFiniteTensor { .. }), "{err}");
    assert_names(&err, &path, victim);
}

#[test]
fn bare_th_means_the_24khz_architecture() {
    // Without config.json the tiny weights do not fit the 24 kHz shapes: the first tensor read
    // is reported with both shapes.
    let dir = scratch("bare_th");
    let path = dir.join("encodec_24khz.th");
    std::fs::copy(tiny("encodec_th/encodec_24khz.th"), &path).unwrap();
    let err = Encodec::load(&path).err().unwrap();
    assert!(
        matches!(&err, ModelError::ShapeMismatch { expected, actual, .. } if expected == &[32, 1, 1] && actual == &[4, 1, 1]),
        "{err}"
    );
    assert_names(&err, &path, "encoder.model.0.conv.conv.weight_g");
}

#[test]
fn truncated_files_are_errors_naming_the_file() {
    let dir = scratch("truncated");
    for source in [
        tiny("encodec_th/encodec_24khz.th"),
        tiny("encodec_hf/model.safetensors"),
    ] {
        let bytes = std::fs::read(&source).unwrap();
        for cut in [bytes.len() / 2, bytes.len() - 1, 10, 1] {
            let truncated = dir.join(format!(
                "cut_{cut}_{}",
                source.file_name().unwrap().to_str().unwrap()
            ));
            std::fs::write(&truncated, &bytes[..cut]).unwrap();
            let err = Encodec::load(&truncated).err().unwrap();
            assert!(
                matches!(err, ModelError::UnreadableCheckpoint { .. }),
                "{err}"
            );
            assert!(
                err.to_string().contains(&truncated.display().to_string()),
                "{err}"
            );
        }
    }
}

#[test]
fn foreign_files_and_directories_are_errors() {
    let dir = scratch("foreign");
    let text = dir.join("notes.th");
    std::fs::write(&text, b"this is not a checkpoint").unwrap();
    let err = Encodec::load(&text).err().unwrap();
    assert!(
        matches!(err, ModelError::UnreadableCheckpoint { .. })
            && err.to_string().contains("notes.th"),
        "{err}"
    );

    let empty = dir.join("empty.safetensors");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(
        Encodec::load(&empty),
        Err(ModelError::UnreadableCheckpoint { .. })
    ));

    // A Vocos checkpoint is a checkpoint, but not an EnCodec one.
    let vocos = tiny("vocos_mel/pytorch_model.bin");
    let err = Encodec::load(&vocos).err().unwrap();
    assert!(matches!(err, ModelError::MissingTensor { .. }), "{err}");
    assert_names(&err, &vocos, "encoder.model.0.conv.conv.weight_v");

    let no_weights = scratch("empty_dir");
    assert!(matches!(
        Encodec::load(&no_weights),
        Err(ModelError::NoWeightsInDir { .. })
    ));
    let missing = dir.join("does_not_exist.th");
    assert!(matches!(
        Encodec::load(&missing),
        Err(ModelError::Io { .. })
    ));
}

#[test]
fn bad_config_is_named() {
    let dir = scratch("bad_config");
    std::fs::copy(
        tiny("encodec_th/encodec_24khz.th"),
        dir.join("encodec_24khz.th"),
    )
    .unwrap();
    let config = dir.join("config.json");
    let original = std::fs::read_to_string(tiny("encodec_th/config.json")).unwrap();
    for (from, to) in [
        ("\"hidden_size\": 4", "\"hidden_size\": \"four\""),
        ("\"use_causal_conv\": true", "\"use_causal_conv\": false"),
        ("\"kernel_size\": 7", "\"kernel_size\": 0"),
        ("\"upsampling_ratios\": [", "\"upsampling_ratios\": [0, "),
        ("\"chunk_length_s\": null", "\"chunk_length_s\": 1.0"),
        ("\"codebook_dim\": 4", "\"codebook_dim\": 8"),
        ("\"audio_channels\": 1", "\"audio_channels\": 2"),
        ("{", "["),
    ] {
        assert!(original.contains(from), "{from}");
        std::fs::write(&config, original.replacen(from, to, 1)).unwrap();
        let err = Encodec::load(&dir)
            .err()
            .unwrap_or_else(|| panic!("{to} must be rejected"));
        assert!(matches!(err, ModelError::Config { .. }), "{to}: {err}");
        assert!(
            err.to_string().contains(&config.display().to_string()),
            "{err}"
        );
    }
}

// ---- full-size random weights of the real architecture ----

fn fullsize_dir() -> PathBuf {
    PathBuf::from(std::env::var("VOCOS_FULLSIZE_DIR").unwrap_or_else(|_| "/work/fullsize".into()))
}

#[test]
#[ignore = "needs full-size weights from model/fixtures/generate.py (not committed)"]
fn full_size_encodec_matches_reference() {
    let dir = fullsize_dir();
    let g = goldens(dir.join("goldens_encodec.safetensors"));
    let audio = floats(&g, "audio");
    let margins = g["rvq_margin"].to_vec2::<f32>().unwrap();
    for (label, path) in [
        ("bare .th", dir.join("encodec_th/encodec_24khz-d7cc33bc.th")),
        ("transformers dir", dir.join("encodec_hf")),
    ] {
        let start = Instant::now();
        let model = Encodec::load(&path).unwrap();
        println!("{label}: load {:.3} s", start.elapsed().as_secs_f64());
        let start = Instant::now();
        let latent = model.encoder_output(&audio).unwrap();
        println!(
            "{label}: encoder {:.3} s for {:.2} s of audio",
            start.elapsed().as_secs_f64(),
            audio.len() as f64 / 24e3
        );
        assert_eq!(latent.dims(), g["encoder_out"].dims());
        assert_close(
            &format!("{label} encoder output"),
            &to_vec(&latent),
            &floats(&g, "encoder_out"),
        );
        for (kbps, key) in BANDWIDTHS {
            assert_codes(
                &format!("{label} codes at {key} kbps"),
                &model,
                &latent,
                &g["encoder_out"],
                &ints(&g, &format!("codes_{key}")),
                &margins,
                &model.encode(&audio, kbps).unwrap(),
            );
        }
        let short = floats(&g, "short_audio");
        let codes = model.encode(&short, 12.0).unwrap();
        let actual: Vec<Vec<i64>> = codes
            .rows
            .iter()
            .map(|r| r.iter().map(|&c| i64::from(c)).collect())
            .collect();
        assert_eq!(
            actual,
            ints(&g, "short_codes_12"),
            "{label} short input codes"
        );
        for (id, key) in ["1.5", "3", "6", "12"].iter().enumerate() {
            let rows = ints(&g, &format!("codes_{key}"))
                .into_iter()
                .map(|r| r.into_iter().map(|c| c as u32).collect())
                .collect();
            let emb = to_vec(&model.quantizer().decode(&Codes { rows }).unwrap());
            let err = relative_error(&emb, &floats(&g, &format!("features_{id}")));
            println!("{label} embeddings of codes_{key}: max |error| / peak = {err:.3e}");
            assert!(err <= 1e-4);
        }
    }
}

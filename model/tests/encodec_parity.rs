//! EnCodec encoder and RVQ against the reference (encodec 0.1.1) on the tiny fixtures, in every
//! checkpoint layout, plus the loading errors.

mod common;

use std::collections::HashMap;
use std::path::Path;

use candle_core::Tensor;
use common::{assert_close, floats, goldens, ints, scratch, tiny};
use vocos_model::checkpoint::Checkpoint;
use vocos_model::encodec::{Encodec, EncodecConfig, Layout};
use vocos_model::error::ModelError;

const BANDWIDTHS: [(f32, &str); 5] = [(1.5, "1.5"), (3.0, "3"), (6.0, "6"), (12.0, "12"), (24.0, "24")];

/// Asserts codes equal the reference's except where the reference's best and second-best
/// distances are within 1e-3 (a genuine near-tie). Returns the number of allowed flips.
fn assert_codes(label: &str, actual: &[Vec<u32>], expected: &[Vec<i64>], margins: &[Vec<f32>]) -> usize {
    assert_eq!(actual.len(), expected.len(), "{label}: number of codebooks");
    let frames = expected[0].len();
    let mut flips = 0;
    for t in 0..frames {
        for q in 0..expected.len() {
            assert_eq!(actual[q].len(), frames, "{label}: frames of codebook {q}");
            let (a, e) = (actual[q][t], expected[q][t]);
            if i64::from(a) != e {
                assert!(margins[q][t] < 1e-3, "{label}: code {q},{t} is {a}, reference {e}, margin {}", margins[q][t]);
                flips += 1;
                // After a flip the residuals differ: later codebooks of this frame are not comparable.
                break;
            }
        }
    }
    flips
}

fn check_model(label: &str, model: &Encodec) {
    let g = goldens(tiny("goldens_encodec.safetensors"));
    let audio = floats(&g, "audio");
    let latent = model.encoder_output(&audio).unwrap();
    assert_close(&format!("{label} encoder output"), &latent.flatten_all().unwrap().to_vec1().unwrap(), &floats(&g, "encoder_out"));
    let margins = g["rvq_margin"].to_vec2::<f32>().unwrap();
    for (kbps, key) in BANDWIDTHS {
        let codes = model.encode(&audio, kbps).unwrap();
        let flips = assert_codes(&format!("{label} {key} kbps"), &codes.rows, &ints(&g, &format!("codes_{key}")), &margins);
        println!("{label} codes at {key} kbps: {} codebooks, {flips} near-tie flips", codes.num_codebooks());
    }
}

#[test]
fn original_th_layout_matches_reference() {
    let model = Encodec::load(&tiny("encodec_th")).unwrap();
    check_model("th", &model);
}

#[test]
fn transformers_layout_matches_reference() {
    let model = Encodec::load(&tiny("encodec_hf")).unwrap();
    check_model("transformers", &model);
}

/// Writes the tensors of `source` renamed by `rename` as a safetensors file.
fn resave(source: &Path, dest: &Path, rename: impl Fn(&str) -> String) {
    let checkpoint = Checkpoint::load(source).unwrap();
    let tensors: HashMap<String, Tensor> = checkpoint
        .names()
        .map(|n| (rename(n), checkpoint.tensor_of_rank(n, checkpoint_rank(&checkpoint, n)).unwrap()))
        .collect();
    candle_core::safetensors::save(&tensors, dest).unwrap();
}

fn checkpoint_rank(checkpoint: &Checkpoint, name: &str) -> usize {
    // tensor_of_rank checks the rank; find it by trying (ranks are 1..=3 here).
    (1..=3).find(|&r| checkpoint.tensor_of_rank(name, r).is_ok()).unwrap()
}

#[test]
fn safetensors_with_original_and_legacy_transformers_names_match_reference() {
    let dir = scratch("encodec_layouts");
    std::fs::copy(tiny("encodec_th/config.json"), dir.join("config.json")).unwrap();
    let original = dir.join("original.safetensors");
    resave(&tiny("encodec_th/encodec_24khz.th"), &original, str::to_owned);
    let model = Encodec::load(&original).unwrap();
    check_model("original-names safetensors", &model);

    let legacy_dir = scratch("encodec_legacy");
    std::fs::copy(tiny("encodec_hf/config.json"), legacy_dir.join("config.json")).unwrap();
    resave(&tiny("encodec_hf/model.safetensors"), &legacy_dir.join("model.safetensors"), |n| {
        n.replace("parametrizations.weight.original0", "weight_g").replace("parametrizations.weight.original1", "weight_v")
    });
    let checkpoint = Checkpoint::load(&legacy_dir.join("model.safetensors")).unwrap();
    assert_eq!(Layout::detect(&checkpoint, "").unwrap(), Layout::TransformersLegacy);
    check_model("legacy transformers names", &Encodec::load(&legacy_dir).unwrap());
}

#[test]
fn short_input_shorter_than_the_padding_matches_reference() {
    let g = goldens(tiny("goldens_encodec.safetensors"));
    let model = Encodec::load(&tiny("encodec_th")).unwrap();
    let codes = model.encode(&floats(&g, "short_audio"), 12.0).unwrap();
    let expected = ints(&g, "short_codes_12");
    let actual: Vec<Vec<i64>> = codes.rows.iter().map(|r| r.iter().map(|&c| i64::from(c)).collect()).collect();
    assert_eq!(actual, expected);
}

#[test]
fn bandwidth_sets_the_number_of_codebooks() {
    let config = EncodecConfig::default();
    let n_q: Vec<usize> = [1.5, 3.0, 6.0, 12.0, 24.0].iter().map(|&b| config.codebooks_for_bandwidth(b)).collect();
    assert_eq!(n_q, [2, 4, 8, 16, 32]);
    let model = Encodec::load(&tiny("encodec_th")).unwrap();
    assert!(matches!(model.encode(&[0.0; 400], 5.0), Err(ModelError::Input(_))));
}

#[test]
fn bad_audio_is_an_error() {
    let model = Encodec::load(&tiny("encodec_th")).unwrap();
    assert!(matches!(model.encode(&[], 6.0), Err(ModelError::Input(_))));
    assert!(matches!(model.encode(&[0.0, f32::NAN, 0.0], 6.0), Err(ModelError::Input(_))));
}

// ---- loading errors: each names the file and the tensor ----

fn tiny_th_tensors() -> HashMap<String, Tensor> {
    let checkpoint = Checkpoint::load(&tiny("encodec_th/encodec_24khz.th")).unwrap();
    checkpoint
        .names()
        .map(|n| (n.to_owned(), checkpoint.tensor_of_rank(n, checkpoint_rank(&checkpoint, n)).unwrap()))
        .collect()
}

fn load_modified(name: &str, edit: impl FnOnce(&mut HashMap<String, Tensor>)) -> (std::path::PathBuf, ModelError) {
    let dir = scratch(name);
    std::fs::copy(tiny("encodec_th/config.json"), dir.join("config.json")).unwrap();
    let mut tensors = tiny_th_tensors();
    edit(&mut tensors);
    let path = dir.join("model.safetensors");
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let err = Encodec::load(&dir).err().expect("loading must fail");
    (path, err)
}

#[test]
fn missing_tensor_is_named() {
    let victim = "encoder.model.13.lstm.weight_hh_l1";
    let (path, err) = load_modified("missing_tensor", |t| {
        t.remove(victim);
    });
    let msg = err.to_string();
    assert!(matches!(err, ModelError::MissingTensor { .. }), "{msg}");
    assert!(msg.contains(victim) && msg.contains(&path.display().to_string()), "{msg}");
}

#[test]
fn wrong_shape_is_named() {
    let victim = "encoder.model.15.conv.conv.bias";
    let (_, err) = load_modified("wrong_shape", |t| {
        t.insert(victim.into(), Tensor::zeros(7, candle_core::DType::F32, &candle_core::Device::Cpu).unwrap());
    });
    let msg = err.to_string();
    assert!(matches!(err, ModelError::ShapeMismatch { .. }) && msg.contains(victim), "{msg}");
}

#[test]
fn wrong_dtype_is_named() {
    let victim = "encoder.model.0.conv.conv.weight_g";
    let (_, err) = load_modified("wrong_dtype", |t| {
        let int = t[victim].to_dtype(candle_core::DType::I64).unwrap();
        t.insert(victim.into(), int);
    });
    let msg = err.to_string();
    assert!(matches!(err, ModelError::DType { .. }) && msg.contains(victim), "{msg}");
}

#[test]
fn truncated_and_foreign_files_are_errors() {
    let dir = scratch("truncated");
    let bytes = std::fs::read(tiny("encodec_th/encodec_24khz.th")).unwrap();
    let truncated = dir.join("encodec_24khz.th");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = Encodec::load(&truncated).err().unwrap();
    assert!(matches!(err, ModelError::UnreadableCheckpoint { .. }), "{err}");
    assert!(err.to_string().contains("encodec_24khz.th"));

    let foreign = dir.join("notes.th");
    std::fs::write(&foreign, b"this is not a checkpoint").unwrap();
    assert!(matches!(Encodec::load(&foreign), Err(ModelError::UnreadableCheckpoint { .. })));

    // A Vocos checkpoint is a checkpoint, but not an EnCodec one.
    let err = Encodec::load(&tiny("vocos_mel/pytorch_model.bin")).err().unwrap();
    assert!(matches!(err, ModelError::MissingTensor { .. }), "{err}");

    let empty = scratch("empty_dir");
    assert!(matches!(Encodec::load(&empty), Err(ModelError::NoWeightsInDir { .. })));
}

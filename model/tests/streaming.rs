//! Streaming Vocos, and the whole streaming pipelines (EnCodec variant and mel variant), against
//! the offline models and the reference goldens, for many chunkings, per-frame bandwidth and
//! reset.
//!
//!     cargo test -p vocos_model --test streaming -- --nocapture

mod common;

use candle_core::Tensor;
use common::{assert_close, floats, goldens, ints, tiny};
use vocos_model::vocos::{Vocos, VocosStream};

const KEYS: [&str; 4] = ["1.5", "3", "6", "12"];

/// Time-major rows of features `(1, C, T)`.
fn frame_major(features: &Tensor) -> Vec<f32> {
    features
        .squeeze(0)
        .unwrap()
        .t()
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

fn codes(g: &std::collections::HashMap<String, Tensor>, key: &str) -> Vec<Vec<u32>> {
    ints(g, &format!("codes_{key}"))
        .into_iter()
        .map(|row| row.into_iter().map(|c| c as u32).collect())
        .collect()
}

#[test]
fn streamed_vocos_equals_offline_decode_for_every_bandwidth_and_grouping() {
    let g = goldens(tiny("goldens_encodec.safetensors"));
    let vocos = Vocos::load(&tiny("vocos_encodec")).unwrap();
    let mut stream = VocosStream::new(vocos.clone()).unwrap();
    for (id, key) in KEYS.iter().enumerate() {
        let features = vocos.codes_to_features(&codes(&g, key)).unwrap();
        let offline = vocos.decode(&features, Some(id)).unwrap();
        let rows = frame_major(&features);
        let dim = features.dim(1).unwrap();
        let frames = features.dim(2).unwrap();
        for group in [1, 2, 7, frames] {
            stream.reset();
            let mut out = Vec::new();
            for chunk in rows.chunks(group * dim) {
                let ids = vec![id; chunk.len() / dim];
                stream.push_frames(chunk, Some(&ids), &mut out).unwrap();
            }
            // 27 frames of lookahead, and the 'same' trim of 480 samples.
            assert_eq!(
                out.len(),
                (frames - 27) * 320 - 480,
                "id {id} group {group}"
            );
            assert_close(
                &format!("streamed Vocos id {id}, {group} frames per push"),
                &out,
                &offline[..out.len()],
            );
        }
    }
}

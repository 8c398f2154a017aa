//! Streaming Vocos, and the whole streaming pipelines (EnCodec variant and mel variant), against
//! the offline models and the reference goldens, for many chunkings, per-frame bandwidth and
//! reset.
//!
//!     cargo test -p vocos_model --test streaming -- --nocapture

mod common;

use candle_core::Tensor;
use common::{assert_close, assert_delayed, floats, goldens, ints, stream_channels, tiny};
use vocos_model::streaming::{Rows, StreamingModule};
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
    let mut stream = VocosStream::new(&vocos, 1).unwrap();
    for (id, key) in KEYS.iter().enumerate() {
        let features = vocos.codes_to_features(&codes(&g, key)).unwrap();
        let offline = vocos.decode(&features, Some(id)).unwrap();
        let rows = frame_major(&features);
        let dim = features.dim(1).unwrap();
        let frames = features.dim(2).unwrap();
        for group in [1, 2, 7, frames] {
            stream.reset();
            let mut audio = Rows::default();
            for chunk in rows.chunks(group * dim) {
                let ids = vec![id; chunk.len() / dim];
                let chunk = Rows::new(chunk.to_vec(), 1, dim, ids);
                stream.step(&chunk, &mut audio).unwrap();
            }
            let out = audio.channel(0).to_vec();
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
            // The flush ends the stream as the offline decode ends the clip.
            stream.flush(&mut audio).unwrap();
            assert_eq!(audio.channel(0), offline, "id {id} group {group} flushed");
        }
    }
}

const CHUNKINGS: [usize; 5] = [1, 7, 320, 333, 4096];

#[test]
fn streamed_codec_equals_reference_forward_delayed_by_the_latency() {
    use vocos_model::codec_stream::CodecStream;
    use vocos_model::encodec::Encodec;
    let g = goldens(tiny("goldens_encodec.safetensors"));
    let audio = floats(&g, "audio");
    let encodec = Encodec::load(&tiny("encodec_th")).unwrap();
    let vocos = Vocos::load(&tiny("vocos_encodec")).unwrap();
    for id in 0..KEYS.len() {
        let reference = floats(&g, &format!("audio_out_{id}"));
        let mut stream = CodecStream::new(encodec.clone(), vocos.clone(), id, 1).unwrap();
        // 27 frames of backbone lookahead and the 480 samples the 'same' ISTFT trims.
        assert_eq!(stream.latency(), 27 * 320 + 480);
        for chunk in CHUNKINGS {
            stream.reset();
            let out = stream_channels(&[&audio], chunk, |p, o| stream.push(p, o).unwrap());
            assert_eq!(
                out[0].len(),
                audio.len() / 320 * 320,
                "id {id} chunk {chunk}"
            );
            assert_delayed(
                &format!("streamed codec id {id}, chunks of {chunk}, vs reference"),
                &out[0],
                stream.latency(),
                &reference,
            );
        }
    }
}

/// Bandwidth changing every few frames equals offline processing with the same per-frame ids:
/// codes with each frame's codebook count, the backbone with each frame's AdaLayerNorm row.
#[test]
fn per_frame_bandwidth_equals_offline_with_the_same_frame_ids() {
    use vocos_model::codec_stream::CodecStream;
    use vocos_model::encodec::Encodec;
    let g = goldens(tiny("goldens_encodec.safetensors"));
    let audio = floats(&g, "audio");
    let encodec = Encodec::load(&tiny("encodec_th")).unwrap();
    let vocos = Vocos::load(&tiny("vocos_encodec")).unwrap();
    let frames = audio.len().div_ceil(320);
    let ids: Vec<usize> = (0..frames)
        .map(|t| [3, 0, 2, 1, 3, 3, 0][(t / 4) % 7])
        .collect();

    let offline =
        vocos_model::codec_stream::offline_with_frame_ids(&encodec, &vocos, &audio, &ids).unwrap();

    for chunk in [1, 320, 333] {
        let mut stream = CodecStream::new(encodec.clone(), vocos.clone(), ids[0], 1).unwrap();
        let mut out = Vec::new();
        let mut pushed = 0;
        while pushed < audio.len() {
            // A change takes effect with the frame whose first sample comes next.
            if pushed % 320 == 0 {
                stream.set_bandwidth(ids[pushed / 320]).unwrap();
            }
            let end = (pushed + chunk)
                .min(audio.len())
                .min((pushed / 320 + 1) * 320);
            stream
                .push(&[&audio[pushed..end]], std::slice::from_mut(&mut out))
                .unwrap();
            pushed = end;
        }
        assert_delayed(
            &format!("per-frame bandwidth, chunks of {chunk}"),
            &out,
            stream.latency(),
            &offline,
        );
    }
}

#[test]
fn streamed_mel_variant_equals_reference_delayed_by_the_latency() {
    use vocos_model::mel_stream::MelStream;
    let g = goldens(tiny("goldens_mel.safetensors"));
    let audio = floats(&g, "audio");
    let reference = floats(&g, "audio_out");
    let vocos = Vocos::load(&tiny("vocos_mel")).unwrap();
    let mut stream = MelStream::new(&vocos, 1).unwrap();
    // 256 samples of centred-window lookahead, 27 hops of backbone lookahead, 512 trimmed.
    assert_eq!(stream.latency(), 256 + 27 * 256 + 512);
    for chunk in [1, 7, 256, 333, 4096] {
        stream.reset();
        let out = stream_channels(&[&audio], chunk, |p, o| stream.push(p, o).unwrap());
        assert_eq!(out[0].len(), audio.len() / 256 * 256, "chunk {chunk}");
        assert_delayed(
            &format!("streamed mel variant, chunks of {chunk}, vs reference"),
            &out[0],
            stream.latency(),
            &reference,
        );
    }
}

#[test]
fn reset_returns_to_the_stream_start() {
    use vocos_model::codec_stream::CodecStream;
    use vocos_model::encodec::Encodec;
    let g = goldens(tiny("goldens_encodec.safetensors"));
    let audio = floats(&g, "audio");
    let encodec = Encodec::load(&tiny("encodec_th")).unwrap();
    let vocos = Vocos::load(&tiny("vocos_encodec")).unwrap();
    let mut stream = CodecStream::new(encodec, vocos, 2, 1).unwrap();
    let run = |stream: &mut CodecStream| {
        stream_channels(&[&audio], 333, |p, o| stream.push(p, o).unwrap()).remove(0)
    };
    let first = run(&mut stream);
    // Half a run, then reset: the next run is identical to the first.
    stream.push(&[&audio[..20_000]], &mut [Vec::new()]).unwrap();
    stream.reset();
    assert_eq!(run(&mut stream), first);
}

/// Two channels in one stream (one weight pass for both, bandwidth changes included) give each
/// channel's mono stream, for both variants.
#[test]
fn each_channel_of_a_stream_equals_its_mono_stream() {
    use vocos_model::codec_stream::CodecStream;
    use vocos_model::encodec::Encodec;
    use vocos_model::mel_stream::MelStream;
    let g = goldens(tiny("goldens_encodec.safetensors"));
    let left = floats(&g, "audio");
    let right: Vec<f32> = left.iter().rev().map(|v| -0.5 * v).collect();
    let encodec = Encodec::load(&tiny("encodec_th")).unwrap();
    let vocos = Vocos::load(&tiny("vocos_encodec")).unwrap();
    let codec = |audio: &[&[f32]]| {
        let mut stream = CodecStream::new(encodec.clone(), vocos.clone(), 3, audio.len()).unwrap();
        let mut pushed = 0;
        stream_channels(audio, 333, |pieces, out| {
            // The bandwidth steps down every 5 frames.
            stream.set_bandwidth(3 - (pushed / 1600) % 4).unwrap();
            pushed += pieces[0].len();
            stream.push(pieces, out).unwrap();
        })
    };
    let both = codec(&[&left, &right]);
    assert!(both[0].iter().any(|&v| v != 0.0));
    assert_eq!(both[0], codec(&[&left])[0], "codec, left");
    assert_eq!(both[1], codec(&[&right])[0], "codec, right");

    let vocos_mel = Vocos::load(&tiny("vocos_mel")).unwrap();
    let mel = |audio: &[&[f32]]| {
        let mut stream = MelStream::new(&vocos_mel, audio.len()).unwrap();
        stream_channels(audio, 333, |pieces, out| stream.push(pieces, out).unwrap())
    };
    let both = mel(&[&left, &right]);
    assert_eq!(both[0], mel(&[&left])[0], "mel, left");
    assert_eq!(both[1], mel(&[&right])[0], "mel, right");
}

//! The streaming EnCodec encoder against the offline encoder and the reference goldens, for
//! chunkings from 1 sample to seconds, and per-frame bandwidth in the RVQ.
//!
//!     cargo test -p vocos_model --test encodec_streaming -- --nocapture

mod common;

use candle_core::Tensor;
use common::{assert_close, floats, goldens, tiny};
use vocos_model::encodec::{Encodec, EncoderStream};

/// Streams `audio` (one or more channels of equal length) in chunks of `chunk` samples;
/// returns each channel's latent frames, time-major.
fn stream_channels(
    stream: &mut EncoderStream,
    audio: &[&[f32]],
    chunk: usize,
) -> Vec<Vec<Vec<f32>>> {
    let mut frames = vec![Vec::new(); audio.len()];
    for start in (0..audio[0].len()).step_by(chunk) {
        let end = (start + chunk).min(audio[0].len());
        let pieces: Vec<&[f32]> = audio.iter().map(|a| &a[start..end]).collect();
        if let Some(latent) = stream.push(&pieces).unwrap() {
            for (frames, channel) in frames.iter_mut().zip(latent.to_vec3::<f32>().unwrap()) {
                frames.extend(channel);
            }
        }
    }
    frames
}

/// [`stream_channels`] of one channel.
fn stream(stream: &mut EncoderStream, audio: &[f32], chunk: usize) -> Vec<Vec<f32>> {
    stream_channels(stream, &[audio], chunk).remove(0)
}

/// The reference latent `(1, D, T)` as time-major frames.
fn reference_frames(latent: &Tensor) -> Vec<Vec<f32>> {
    latent
        .squeeze(0)
        .unwrap()
        .t()
        .unwrap()
        .to_vec2::<f32>()
        .unwrap()
}

#[test]
fn streamed_latent_equals_offline_for_every_chunking() {
    let g = goldens(tiny("goldens_encodec.safetensors"));
    let audio = floats(&g, "audio");
    let model = Encodec::load(&tiny("encodec_th")).unwrap();
    let hop = model.config().hop_length();
    let offline = reference_frames(&model.encoder_output(&audio).unwrap());
    let golden = reference_frames(&g["encoder_out"]);
    let mut encoder = EncoderStream::new(model.clone(), 1);
    for chunk in [1, 7, 320, 333, 4096] {
        encoder.reset();
        let streamed = stream(&mut encoder, &audio, chunk);
        // Every whole frame of input is final; the offline pass pads the last partial one.
        assert_eq!(streamed.len(), audio.len() / hop, "chunk {chunk}");
        let n = streamed.len();
        let flat = |f: &[Vec<f32>]| f[..n].concat();
        assert_close(
            &format!("streamed latent vs reference, chunks of {chunk}"),
            &flat(&streamed),
            &flat(&golden),
        );
        assert_close(
            &format!("streamed latent vs offline, chunks of {chunk}"),
            &flat(&streamed),
            &flat(&offline),
        );
    }
}

#[test]
fn frames_are_final_one_hop_after_they_start_except_the_first_seven() {
    let g = goldens(tiny("goldens_encodec.safetensors"));
    let audio = floats(&g, "audio");
    let model = Encodec::load(&tiny("encodec_th")).unwrap();
    let hop = model.config().hop_length();
    let mut encoder = EncoderStream::new(model, 1);
    let mut total = 0;
    for (i, frame) in audio.chunks_exact(hop).take(20).enumerate() {
        total += encoder
            .push(&[frame])
            .unwrap()
            .map_or(0, |l| l.dim(1).unwrap());
        // The output conv's stream-start reflection needs frames 1..=6.
        let expected = if i < 6 { 0 } else { i + 1 };
        assert_eq!(total, expected, "after {} frames of input", i + 1);
    }
}

#[test]
fn per_frame_codebook_counts_equal_whole_clip_encoding() {
    let g = goldens(tiny("goldens_encodec.safetensors"));
    let audio = floats(&g, "audio");
    let model = Encodec::load(&tiny("encodec_th")).unwrap();
    let latent = model.encoder_output(&audio).unwrap();
    let frames = latent
        .squeeze(0)
        .unwrap()
        .t()
        .unwrap()
        .contiguous()
        .unwrap();
    let total = frames.dim(0).unwrap();
    // Switch between 2, 4, 8 and 16 codebooks every few frames.
    let n_q: Vec<usize> = (0..total).map(|t| [2, 4, 8, 16][(t / 5) % 4]).collect();
    let codes = model.quantizer().encode_frames(&frames, &n_q).unwrap();
    for count in [2, 4, 8, 16] {
        let rust_whole = model.quantizer().encode(&latent, count).unwrap();
        for t in (0..total).filter(|&t| n_q[t] == count) {
            let whole: Vec<u32> = rust_whole.rows.iter().map(|row| row[t]).collect();
            assert_eq!(codes[t], whole, "{count} codebooks, frame {t}");
        }
    }
}

/// Two channels in one stream (one weight pass for both) give each channel's mono stream.
#[test]
fn each_channel_of_a_stream_equals_its_mono_stream() {
    let g = goldens(tiny("goldens_encodec.safetensors"));
    let left = floats(&g, "audio");
    let right: Vec<f32> = left.iter().rev().map(|v| -0.5 * v).collect();
    let model = Encodec::load(&tiny("encodec_th")).unwrap();
    let mut stereo = EncoderStream::new(model.clone(), 2);
    let mut mono = EncoderStream::new(model, 1);
    for chunk in [7, 333, 4096] {
        stereo.reset();
        let both = stream_channels(&mut stereo, &[&left, &right], chunk);
        for (channel, audio) in both.iter().zip([&left, &right]) {
            mono.reset();
            assert_eq!(
                channel,
                &stream(&mut mono, audio, chunk),
                "chunks of {chunk}"
            );
        }
    }
}

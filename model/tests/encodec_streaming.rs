//! The streaming EnCodec encoder against the offline encoder and the reference goldens, for
//! chunkings from 1 sample to seconds, and per-frame bandwidth in the RVQ.
//!
//!     cargo test -p vocos_model --test encodec_streaming -- --nocapture

mod common;

use candle_core::Tensor;
use common::{assert_close, floats, goldens, tiny};
use vocos_model::encodec::{Encodec, EncoderStream};
use vocos_model::streaming::{Rows, StreamingModule};

/// Streams `audio` (one or more channels of equal length) in chunks of `chunk` samples, then
/// flushes if `flush`; returns each channel's latent frames, time-major.
fn stream_channels(
    stream: &mut EncoderStream,
    audio: &[&[f32]],
    chunk: usize,
    flush: bool,
) -> Vec<Vec<Vec<f32>>> {
    let mut latent = Rows::default();
    for start in (0..audio[0].len()).step_by(chunk) {
        let end = (start + chunk).min(audio[0].len());
        let pieces: Vec<f32> = audio.iter().flat_map(|a| &a[start..end]).copied().collect();
        let piece = Rows::new(pieces, audio.len(), 1, Vec::new());
        stream.step(&piece, &mut latent).unwrap();
    }
    if flush {
        stream.flush(&mut latent).unwrap();
    }
    (0..audio.len())
        .map(|n| {
            latent
                .channel(n)
                .chunks(latent.width().max(1))
                .map(<[f32]>::to_vec)
                .collect()
        })
        .collect()
}

/// [`stream_channels`] of one channel, without the flush.
fn stream(stream: &mut EncoderStream, audio: &[f32], chunk: usize) -> Vec<Vec<f32>> {
    stream_channels(stream, &[audio], chunk, false).remove(0)
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
    let mut encoder = EncoderStream::new(model.encoder(), 1);
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
        // The flush ends the stream as the offline pass ends the clip.
        encoder.reset();
        let flushed = stream_channels(&mut encoder, &[&audio], chunk, true).remove(0);
        assert_eq!(flushed.len(), audio.len().div_ceil(hop), "chunk {chunk}");
        assert_close(
            &format!("flushed stream vs reference, chunks of {chunk}"),
            &flushed.concat(),
            &golden.concat(),
        );
    }
}

#[test]
fn frames_are_final_one_hop_after_they_start_except_the_first_seven() {
    let g = goldens(tiny("goldens_encodec.safetensors"));
    let audio = floats(&g, "audio");
    let model = Encodec::load(&tiny("encodec_th")).unwrap();
    let hop = model.config().hop_length();
    let mut encoder = EncoderStream::new(model.encoder(), 1);
    let mut latent = Rows::default();
    for (i, frame) in audio.chunks_exact(hop).take(20).enumerate() {
        let frame = Rows::new(frame.to_vec(), 1, 1, Vec::new());
        encoder.step(&frame, &mut latent).unwrap();
        let total = latent.len();
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
    let latent = model.latent(&audio).unwrap();
    let total = latent.len() / model.config().hidden_size;
    // Switch between 2, 4, 8 and 16 codebooks every few frames.
    let n_q: Vec<usize> = (0..total).map(|t| [2, 4, 8, 16][(t / 5) % 4]).collect();
    let codes = model.quantizer().encode_frames(&latent, &n_q).unwrap();
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
    let mut stereo = EncoderStream::new(model.encoder(), 2);
    let mut mono = EncoderStream::new(model.encoder(), 1);
    for chunk in [7, 333, 4096] {
        stereo.reset();
        let both = stream_channels(&mut stereo, &[&left, &right], chunk, false);
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

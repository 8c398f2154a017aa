//! The stream processors that run the models on the engine's worker: one model stream per
//! channel, each frame in, the same number of samples out, at the stream's fixed latency.

use vocos_model::codec_stream::{CodecStream, LATENCY};
use vocos_model::error::Result;
use vocos_model::mel_stream::{MEL_LATENCY, MelStream};

use crate::engine::StreamProcessor;
use crate::models::{LoadedModel, ModelKind};

/// Frame and latency (24 kHz samples) of each mode; the engine reports the latency even before
/// a model is loaded, so loading one never changes it.
pub fn frame_and_latency(kind: ModelKind) -> (usize, usize) {
    match kind {
        ModelKind::Codec => (CODEC_FRAME, LATENCY),
        ModelKind::Mel => (MEL_FRAME, MEL_LATENCY),
    }
}

/// Model frames run per step. Each step reads the weights once for all its frames, and one frame
/// at a time is bound by memory bandwidth (about 80 MB of weights per frame at full size), so
/// four frames per step cut the compute per second of audio by about 40 % (`cargo xtask
/// bench`) for 3 more frames of latency (40 ms at 24 kHz). Bandwidth changes still land on
/// their own frame: the engine splits the step there.
pub const FRAMES_PER_STEP: usize = 4;

/// EnCodec hop: the codec stream's frame.
pub const CODEC_FRAME: usize = 320;
/// Mel hop: the mel stream's frame.
pub const MEL_FRAME: usize = 256;

enum Streams {
    Codec(Vec<CodecStream>),
    Mel(Vec<MelStream>),
}

pub struct ModelProcessor {
    streams: Streams,
    frame: usize,
    latency: usize,
    out: Vec<f32>,
    /// Frames whose stream failed (output silence); counted, never fatal.
    pub failures: u64,
}

impl ModelProcessor {
    pub fn new(model: &LoadedModel, channels: usize, bandwidth: usize) -> Result<Self> {
        let (frame, latency) = frame_and_latency(match model {
            LoadedModel::Codec { .. } => ModelKind::Codec,
            LoadedModel::Mel { .. } => ModelKind::Mel,
        });
        let streams = match model {
            LoadedModel::Codec { encodec, vocos } => Streams::Codec(
                (0..channels)
                    .map(|_| CodecStream::new(encodec.clone(), vocos.clone(), bandwidth))
                    .collect::<Result<_>>()?,
            ),
            LoadedModel::Mel { vocos } => Streams::Mel(
                (0..channels)
                    .map(|_| MelStream::new(vocos.clone()))
                    .collect::<Result<_>>()?,
            ),
        };
        Ok(Self {
            streams,
            frame,
            latency,
            out: Vec::with_capacity(2 * frame),
            failures: 0,
        })
    }
}

impl StreamProcessor for ModelProcessor {
    fn frame_size(&self) -> usize {
        self.frame
    }

    fn frames_per_step(&self) -> usize {
        FRAMES_PER_STEP
    }

    fn latency(&self) -> usize {
        self.latency
    }

    fn process_frames(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) {
        for (c, (input, output)) in input.iter().zip(output.iter_mut()).enumerate() {
            self.out.clear();
            let result = match &mut self.streams {
                Streams::Codec(streams) => streams[c].push(input, &mut self.out),
                Streams::Mel(streams) => streams[c].push(input, &mut self.out),
            };
            // Whole frames in give as many samples out (see the streams' timing docs).
            if result.is_ok() && self.out.len() == output.len() {
                output.copy_from_slice(&self.out);
            } else {
                self.failures += 1;
                output.fill(0.0);
            }
        }
    }

    fn set_bandwidth(&mut self, index: usize) {
        if let Streams::Codec(streams) = &mut self.streams {
            for stream in streams {
                // Out-of-range ids are refused by the stream and the bandwidth stays.
                let _ = stream.set_bandwidth(index);
            }
        }
    }

    fn reset(&mut self) {
        match &mut self.streams {
            Streams::Codec(streams) => streams.iter_mut().for_each(CodecStream::reset),
            Streams::Mel(streams) => streams.iter_mut().for_each(MelStream::reset),
        }
    }
}

//! The stream processors that run the models on the engine's worker: one model stream for all
//! channels (each layer reads its weights once for both channels of a stereo track), each
//! frame in, the same number of samples out, at the stream's fixed latency.

use vocos_model::codec_stream::{CodecStream, LATENCY};
use vocos_model::error::Result;
use vocos_model::mel_stream::{MEL_LATENCY, MelStream};

use crate::engine::{ProcessError, Processed, StreamProcessor, Timing};
use crate::models::{LoadedModel, ModelKind};

/// Frame and latency (24 kHz samples) of each mode; the engine reports the latency even before
/// a model is loaded, so loading one never changes it.
pub fn frame_and_latency(kind: ModelKind) -> (usize, usize) {
    match kind {
        ModelKind::Codec => (CODEC_FRAME, LATENCY),
        ModelKind::Mel => (MEL_FRAME, MEL_LATENCY),
    }
}

/// EnCodec hop: the codec stream's frame.
pub const CODEC_FRAME: usize = 320;
/// Mel hop: the mel stream's frame.
pub const MEL_FRAME: usize = 256;

enum Stream {
    Codec(Box<CodecStream>),
    Mel(Box<MelStream>),
}

pub struct ModelProcessor {
    stream: Stream,
    /// The mode's frame and latency, with the frames per step of `params::Latency` (bandwidth
    /// changes still land on their own frame: the engine splits the step there).
    timing: Timing,
    /// Per channel.
    out: Vec<Vec<f32>>,
}

impl ModelProcessor {
    pub fn new(
        model: &LoadedModel,
        channels: usize,
        bandwidth: usize,
        frames_per_step: usize,
    ) -> Result<Self> {
        let (frame, latency) = frame_and_latency(match model {
            LoadedModel::Codec { .. } => ModelKind::Codec,
            LoadedModel::Mel { .. } => ModelKind::Mel,
        });
        let stream = match model {
            LoadedModel::Codec { encodec, vocos } => Stream::Codec(Box::new(CodecStream::new(
                encodec.clone(),
                vocos.clone(),
                bandwidth,
                channels,
            )?)),
            LoadedModel::Mel { vocos } => {
                Stream::Mel(Box::new(MelStream::new(vocos.clone(), channels)?))
            }
        };
        let timing = Timing {
            frame,
            frames_per_step,
            latency,
        };
        Ok(Self {
            stream,
            timing,
            out: vec![Vec::with_capacity(timing.step()); channels],
        })
    }
}

impl StreamProcessor for ModelProcessor {
    fn timing(&self) -> Timing {
        self.timing
    }

    fn process_frames(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) -> Processed {
        self.out.iter_mut().for_each(Vec::clear);
        match &mut self.stream {
            Stream::Codec(stream) => stream.push(input, &mut self.out),
            Stream::Mel(stream) => stream.push(input, &mut self.out),
        }?;
        // Whole frames in give as many samples out (see the streams' timing docs).
        if let Some((output, out)) = output
            .iter()
            .zip(&self.out)
            .find(|(output, out)| output.len() != out.len())
        {
            return Err(ProcessError::Length {
                expected: output.len(),
                actual: out.len(),
            });
        }
        for (output, out) in output.iter_mut().zip(&self.out) {
            output.copy_from_slice(out);
        }
        Ok(())
    }

    fn set_bandwidth(&mut self, index: usize) {
        if let Stream::Codec(stream) = &mut self.stream {
            // Out-of-range ids are refused by the stream and the bandwidth stays.
            let _ = stream.set_bandwidth(index);
        }
    }

    fn reset(&mut self) {
        match &mut self.stream {
            Stream::Codec(stream) => stream.reset(),
            Stream::Mel(stream) => stream.reset(),
        }
    }
}

//! The stream processors that run the models on the engine's worker: one model stream for all
//! channels (each layer reads its weights once for both channels of a stereo track), each
//! frame in, the same number of samples out, at the stream's fixed latency.

use vocos_model::codec_stream::CodecStream;
use vocos_model::error::Result;
use vocos_model::mel_stream::MelStream;
use vocos_model::vocos::VocosConfig;

use crate::engine::{ProcessError, Processed, StreamProcessor, Timing};
use crate::models::{LoadedModel, ModelKind};

/// Frame and latency (24 kHz samples) of each mode with the released models' configuration:
/// the passthrough stands in with this timing before a model is loaded, so loading a released
/// model never changes the reported latency (the worker swaps in only a processor of the same
/// timing; a model of another configuration takes effect at the next activation).
pub fn frame_and_latency(kind: ModelKind) -> (usize, usize) {
    let config = match kind {
        ModelKind::Codec => VocosConfig::released_encodec(),
        ModelKind::Mel => VocosConfig::released_mel(),
    };
    (config.hop(), config.stream_latency())
}

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
        let (stream, frame, latency) = match model {
            LoadedModel::Codec { encodec, vocos } => {
                let stream = CodecStream::new(encodec.clone(), vocos.clone(), bandwidth, channels)?;
                let (frame, latency) = (stream.hop(), stream.latency());
                (Stream::Codec(Box::new(stream)), frame, latency)
            }
            LoadedModel::Mel { vocos } => {
                let stream = MelStream::new(vocos, channels)?;
                let (frame, latency) = (stream.hop(), stream.latency());
                (Stream::Mel(Box::new(stream)), frame, latency)
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

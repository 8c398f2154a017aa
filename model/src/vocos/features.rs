//! Vocos inputs: EnCodec codes -> summed codebook embeddings (vocos `EncodecFeatures`,
//! `codes_to_features`), and audio -> log-mel (vocos `MelSpectrogramFeatures`).

use candle_core::{Device, Tensor};
use vocos_dsp::log_mel_stream::LogMelStream;
use vocos_dsp::mel::{LogMel, htk_filterbank};

use super::config::MelConfig;
use crate::checkpoint::Checkpoint;
use crate::error::{ModelError, Result};
use crate::streaming::{OFFLINE_CHUNK_FRAMES, Rows, StreamingModule, offline};

/// The Vocos checkpoint's own copy of EnCodec codebooks `0..num_q`, stacked `(num_q * bins, D)`.
pub struct CodebookFeatures {
    /// Frame-major copy of the table for direct row sums.
    table: Vec<f32>,
    pub dim: usize,
    pub bins: usize,
    pub num_codebooks: usize,
}

impl CodebookFeatures {
    pub fn load(ckpt: &Checkpoint, num_codebooks: usize, bins: usize) -> Result<Self> {
        let name = "feature_extractor.codebook_weights";
        let tensor = ckpt.tensor_of_rank(name, 2)?;
        let (rows, dim) = tensor.dims2()?;
        if rows != num_codebooks * bins {
            return Err(ModelError::ShapeMismatch {
                path: ckpt.path().to_owned(),
                name: name.into(),
                expected: vec![num_codebooks * bins, dim],
                actual: vec![rows, dim],
            });
        }
        Ok(Self {
            table: tensor.flatten_all()?.to_vec1()?,
            dim,
            bins,
            num_codebooks,
        })
    }

    /// `sum_q table[q * bins + codes[q][t]]` as `(1, D, T)`; uses every row of `codes`.
    pub fn features(&self, codes: &[Vec<u32>]) -> Result<Tensor> {
        let frames = self.validate(codes)?;
        let mut out = vec![0f32; frames * self.dim];
        for t in 0..frames {
            self.frame(
                codes.iter().map(|row| row[t]),
                &mut out[t * self.dim..(t + 1) * self.dim],
            );
        }
        Ok(Tensor::from_vec(out, (frames, self.dim), &Device::Cpu)?
            .t()?
            .unsqueeze(0)?
            .contiguous()?)
    }

    /// Embedding of one frame whose codes are `codes` (codebook 0 first) into `out` (`D` values).
    pub fn frame(&self, codes: impl Iterator<Item = u32>, out: &mut [f32]) {
        out.fill(0.0);
        for (q, code) in codes.enumerate() {
            let row = (q * self.bins + code as usize) * self.dim;
            for (o, &v) in out.iter_mut().zip(&self.table[row..row + self.dim]) {
                *o += v;
            }
        }
    }

    /// Checks shape and range of `codes`; returns the number of frames.
    pub fn validate(&self, codes: &[Vec<u32>]) -> Result<usize> {
        validate_codes(codes, self.num_codebooks, self.bins)
    }
}

/// Checks a code array `(K, T)` against a model of `max_codebooks` codebooks of `bins` entries:
/// `1..=max_codebooks` codebooks of the same `T >= 1` frames, every code below `bins`. Returns
/// `T`.
pub fn validate_codes(codes: &[Vec<u32>], max_codebooks: usize, bins: usize) -> Result<usize> {
    if codes.is_empty() || codes.len() > max_codebooks {
        return Err(ModelError::CodebookCount {
            given: codes.len(),
            max: max_codebooks,
        });
    }
    let expected = codes[0].len();
    for (codebook, row) in codes.iter().enumerate() {
        if row.len() != expected || expected == 0 {
            return Err(ModelError::CodeFrames {
                codebook,
                frames: row.len(),
                expected,
            });
        }
        if let Some(frame) = row.iter().position(|&c| c as usize >= bins) {
            return Err(ModelError::CodeOutOfRange {
                code: row[frame],
                codebook,
                frame,
                bins,
            });
        }
    }
    Ok(expected)
}

/// Log-mel front end; filterbank and window from the checkpoint when it holds them.
pub struct MelFeatures {
    pub config: MelConfig,
    window: Vec<f32>,
    filterbank: Vec<f32>,
}

impl MelFeatures {
    pub fn load(ckpt: &Checkpoint, config: &MelConfig) -> Result<Self> {
        let bins = config.n_fft / 2 + 1;
        let window = match "feature_extractor.mel_spec.spectrogram.window" {
            name if ckpt.contains(name) => ckpt.tensor(name, &[config.n_fft])?.to_vec1()?,
            _ => vocos_dsp::window::hann_periodic(config.n_fft),
        };
        let filterbank = match "feature_extractor.mel_spec.mel_scale.fb" {
            name if ckpt.contains(name) => ckpt
                .tensor(name, &[bins, config.n_mels])?
                .flatten_all()?
                .to_vec1()?,
            _ => htk_filterbank(
                bins,
                0.0,
                config.sample_rate as f64 / 2.0,
                config.n_mels,
                config.sample_rate as f64,
            ),
        };
        Ok(Self {
            config: config.clone(),
            window,
            filterbank,
        })
    }

    /// A fresh analyser (owns FFT plans and scratch).
    fn analyser(&self) -> Result<LogMel> {
        let c = &self.config;
        Ok(LogMel::new(
            c.n_fft,
            c.hop_length,
            self.window.clone(),
            self.filterbank.clone(),
            c.n_mels,
        )?)
    }

    /// Log-mel features `(1, n_mels, 1 + N / hop)` of `audio`: the front-end stream given the
    /// whole clip and flushed.
    pub fn features(&self, audio: &[f32]) -> Result<Tensor> {
        let mut stream = MelFrontStream::new(self, 1)?;
        let audio = Rows::new(audio.to_vec(), 1, 1, Vec::new());
        let chunk = OFFLINE_CHUNK_FRAMES * self.config.hop_length;
        let mel = offline(&mut stream, &audio, chunk)?;
        let frames = mel.len();
        Ok(
            Tensor::from_vec(mel.into_data(), (frames, self.config.n_mels), &Device::Cpu)?
                .t()?
                .unsqueeze(0)?
                .contiguous()?,
        )
    }
}

/// The log-mel front end streaming: audio rows (one sample each) of one or more channels in,
/// mel frames out as soon as their window is complete ([`LogMelStream`]).
pub struct MelFrontStream {
    /// Per channel.
    analysis: Vec<LogMelStream>,
    n_mels: usize,
    /// One channel's frames of a call.
    frames: Vec<f32>,
}

impl MelFrontStream {
    pub fn new(features: &MelFeatures, channels: usize) -> Result<Self> {
        Ok(Self {
            analysis: (0..channels)
                .map(|_| Ok(LogMelStream::new(features.analyser()?)))
                .collect::<Result<_>>()?,
            n_mels: features.config.n_mels,
            frames: Vec::new(),
        })
    }

    /// Each channel's analysis through `run`, the frames appended to `out` channel by channel.
    fn each_channel(
        &mut self,
        out: &mut Rows,
        mut run: impl FnMut(usize, &mut LogMelStream, &mut Vec<f32>) -> Result<()>,
    ) -> Result<()> {
        let mut data = Vec::new();
        for (n, analysis) in self.analysis.iter_mut().enumerate() {
            self.frames.clear();
            run(n, analysis, &mut self.frames)?;
            data.extend_from_slice(&self.frames);
        }
        if !data.is_empty() {
            let channels = self.analysis.len();
            out.append(&Rows::new(data, channels, self.n_mels, Vec::new()));
        }
        Ok(())
    }
}

impl StreamingModule for MelFrontStream {
    fn step(&mut self, x: &Rows, out: &mut Rows) -> Result<()> {
        if x.is_empty() {
            return Ok(());
        }
        self.each_channel(out, |n, analysis, frames| {
            analysis.push(x.channel(n), frames);
            Ok(())
        })
    }

    fn flush(&mut self, out: &mut Rows) -> Result<()> {
        self.each_channel(out, |_, analysis, frames| Ok(analysis.finish(frames)?))
    }

    fn reset(&mut self) {
        self.analysis.iter_mut().for_each(LogMelStream::reset);
    }
}

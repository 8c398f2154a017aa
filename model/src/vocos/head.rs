//! Vocos ISTFT head (vocos `heads.ISTFTHead`): a linear layer to `n_fft + 2` values per frame,
//! log-magnitude (first half, `min(exp(x), 100)`) and phase (second half), then the inverse STFT
//! of `vocos_dsp` (one windowed frame per hidden frame, overlap-added as the frames come).

use std::sync::Arc;

use vocos_dsp::istft::{FrameSynthesizer, IstftError, IstftPadding, trim};
use vocos_dsp::overlap_add::StreamingOverlapAdd;

use super::config::HeadConfig;
use crate::checkpoint::Checkpoint;
use crate::error::Result;
use crate::kernels::Dense;
use crate::streaming::{Rows, StreamingModule};

/// Magnitudes are clipped here after `exp` (the reference's safeguard).
pub const MAX_MAGNITUDE: f32 = 100.0;

pub struct IstftHead {
    /// `(n_fft + 2, dim)` with its bias.
    out: Dense,
    window: Vec<f32>,
    pub config: HeadConfig,
    padding: IstftPadding,
}

impl IstftHead {
    pub fn load(ckpt: &Checkpoint, cfg: &HeadConfig) -> Result<Self> {
        let width = cfg.n_fft + 2;
        let window = ckpt
            .tensor("head.istft.window", &[cfg.n_fft])?
            .to_vec1::<f32>()?;
        Ok(Self {
            out: Dense::new(
                &ckpt.tensor("head.out.weight", &[width, cfg.dim])?,
                &ckpt.tensor("head.out.bias", &[width])?,
            )?,
            window,
            padding: cfg.istft_padding(),
            config: cfg.clone(),
        })
    }

    pub fn window(&self) -> &[f32] {
        &self.window
    }

    pub fn padding(&self) -> IstftPadding {
        self.padding
    }

    /// Output samples at each end that the inverse STFT trims (480 for `same` padding at the
    /// EnCodec variant's sizes, 512 for `center`): output sample `n` of the stream is final
    /// once the hidden frames up to `floor((n + trim) / hop)` are.
    pub fn trim(&self) -> usize {
        trim(self.padding, self.config.n_fft, self.config.hop_length)
    }

    /// The linear layer: hidden rows of `dim` values -> rows of `n_fft + 2` values.
    pub fn linear(&self, hidden: &[f32]) -> Vec<f32> {
        self.out.forward(hidden)
    }
}

/// The head streaming: hidden rows of one or more channels in, audio rows (one sample each)
/// out as soon as no later frame reaches them.
pub struct HeadStream {
    head: Arc<IstftHead>,
    synth: FrameSynthesizer,
    /// Per channel.
    overlap_add: Vec<StreamingOverlapAdd>,
    frame: Vec<f32>,
    magnitude: Vec<f32>,
    /// Per channel, the samples of one call.
    samples: Vec<Vec<f32>>,
}

impl HeadStream {
    pub fn new(head: Arc<IstftHead>, channels: usize) -> Result<Self> {
        let n_fft = head.config.n_fft;
        let overlap_add = (0..channels)
            .map(|_| StreamingOverlapAdd::new(head.window(), head.config.hop_length, head.padding))
            .collect::<std::result::Result<_, IstftError>>()?;
        Ok(Self {
            synth: FrameSynthesizer::new(n_fft, head.window.clone())?,
            overlap_add,
            frame: vec![0.0; n_fft],
            magnitude: vec![0.0; n_fft / 2 + 1],
            samples: vec![Vec::new(); channels],
            head,
        })
    }

    /// Appends the samples of every channel (as many for each) to `out`.
    fn emit(&mut self, out: &mut Rows) {
        let channels = self.samples.len();
        let data = self.samples.concat();
        self.samples.iter_mut().for_each(Vec::clear);
        out.append(&Rows::new(data, channels, 1, Vec::new()));
    }
}

impl StreamingModule for HeadStream {
    fn step(&mut self, x: &Rows, out: &mut Rows) -> Result<()> {
        if x.is_empty() {
            return Ok(());
        }
        let spectra = self.head.linear(x.data());
        let bins = self.magnitude.len();
        let per_channel = x.len() * 2 * bins;
        for ((spectra, overlap_add), samples) in spectra
            .chunks_exact(per_channel)
            .zip(&mut self.overlap_add)
            .zip(&mut self.samples)
        {
            for row in spectra.chunks_exact(2 * bins) {
                for (m, &v) in self.magnitude.iter_mut().zip(&row[..bins]) {
                    *m = v.exp().min(MAX_MAGNITUDE);
                }
                self.synth
                    .synthesize_polar(&self.magnitude, &row[bins..], &mut self.frame)?;
                overlap_add.push(&self.frame, samples)?;
            }
        }
        self.emit(out);
        Ok(())
    }

    fn flush(&mut self, out: &mut Rows) -> Result<()> {
        for (overlap_add, samples) in self.overlap_add.iter_mut().zip(&mut self.samples) {
            overlap_add.finish(samples)?;
        }
        self.emit(out);
        Ok(())
    }

    fn reset(&mut self) {
        self.overlap_add
            .iter_mut()
            .for_each(StreamingOverlapAdd::reset);
    }
}

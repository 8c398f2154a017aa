//! Vocos ISTFT head (vocos `heads.ISTFTHead`): a linear layer to `n_fft + 2` values per frame,
//! log-magnitude (first half, `min(exp(x), 100)`) and phase (second half), then the inverse STFT
//! of `vocos_dsp::istft`.

use candle_core::Tensor;
use vocos_dsp::istft::{FrameSynthesizer, IstftPadding, overlap_add};

use super::config::HeadConfig;
use crate::checkpoint::Checkpoint;
use crate::error::{ModelError, Result};

/// Magnitudes are clipped here after `exp` (the reference's safeguard).
pub const MAX_MAGNITUDE: f32 = 100.0;

pub struct IstftHead {
    /// `(dim, n_fft + 2)`.
    pub(super) out_t: Tensor,
    pub(super) out_bias: Tensor,
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
            out_t: ckpt
                .tensor("head.out.weight", &[width, cfg.dim])?
                .t()?
                .contiguous()?,
            out_bias: ckpt.tensor("head.out.bias", &[width])?,
            window,
            padding: if cfg.padding == "center" {
                IstftPadding::Center
            } else {
                IstftPadding::Same
            },
            config: cfg.clone(),
        })
    }

    pub fn window(&self) -> &[f32] {
        &self.window
    }

    pub fn padding(&self) -> IstftPadding {
        self.padding
    }

    /// The linear layer: hidden `(T, dim)` -> `(T, n_fft + 2)`.
    pub fn linear(&self, hidden: &Tensor) -> Result<Tensor> {
        Ok(hidden.matmul(&self.out_t)?.broadcast_add(&self.out_bias)?)
    }

    /// Hidden states `(T, dim)` -> audio.
    pub fn forward(&self, hidden: &Tensor) -> Result<Vec<f32>> {
        let rows = self.linear(hidden)?.to_vec2::<f32>()?;
        let n_fft = self.config.n_fft;
        let bins = n_fft / 2 + 1;
        let mut synth = FrameSynthesizer::new(n_fft, self.window.clone()).map_err(istft_error)?;
        let mut mag = vec![0f32; bins];
        let frames = rows
            .iter()
            .map(|row| {
                for (m, &x) in mag.iter_mut().zip(&row[..bins]) {
                    *m = x.exp().min(MAX_MAGNITUDE);
                }
                let mut frame = vec![0f32; n_fft];
                synth
                    .synthesize_polar(&mag, &row[bins..], &mut frame)
                    .map_err(istft_error)?;
                Ok(frame)
            })
            .collect::<Result<Vec<_>>>()?;
        overlap_add(&frames, &self.window, self.config.hop_length, self.padding)
            .map_err(istft_error)
    }
}

fn istft_error(e: vocos_dsp::istft::IstftError) -> ModelError {
    ModelError::Input(format!("inverse STFT: {e}"))
}

//! Vocos backbone (vocos `models.VocosBackbone`), offline form on frame-major `(T, dim)` data:
//! embed conv (k 7, zero padding 3) -> norm -> ConvNeXt blocks -> final LayerNorm.
//!
//! Norms are AdaLayerNorm (EnCodec variant: affine rows chosen by the bandwidth id of each
//! frame) or LayerNorm (mel variant), both with eps 1e-6 and the biased variance.

use candle_core::{D, Tensor};

use super::config::BackboneConfig;
use crate::checkpoint::Checkpoint;
use crate::error::{ModelError, Result};

pub(super) const EPS: f64 = 1e-6;
pub(super) const KERNEL: usize = 7;
pub(super) const PAD: usize = KERNEL / 2;

/// Affine part of a layer norm.
pub enum Norm {
    /// `scale.weight` / `shift.weight`: `(num_embeddings, dim)` tables indexed by bandwidth id.
    Ada {
        scale: Tensor,
        shift: Tensor,
    },
    Plain {
        weight: Tensor,
        bias: Tensor,
    },
}

impl Norm {
    fn load(ckpt: &Checkpoint, name: &str, dim: usize, ada: Option<usize>) -> Result<Self> {
        Ok(match ada {
            Some(n) => Norm::Ada {
                scale: ckpt.tensor(&format!("{name}.scale.weight"), &[n, dim])?,
                shift: ckpt.tensor(&format!("{name}.shift.weight"), &[n, dim])?,
            },
            None => Norm::Plain {
                weight: ckpt.tensor(&format!("{name}.weight"), &[dim])?,
                bias: ckpt.tensor(&format!("{name}.bias"), &[dim])?,
            },
        })
    }

    /// Normalises each row of `x` `(T, dim)`; `ids` `(T,)` picks the AdaLayerNorm row per frame.
    fn forward(&self, x: &Tensor, ids: Option<&Tensor>) -> Result<Tensor> {
        let y = normalize(x)?;
        Ok(match (self, ids) {
            (Norm::Ada { scale, shift }, Some(ids)) => y
                .mul(&scale.index_select(ids, 0)?)?
                .add(&shift.index_select(ids, 0)?)?,
            (Norm::Ada { .. }, None) => {
                return Err(ModelError::Input(
                    "the EnCodec variant needs a bandwidth id".into(),
                ));
            }
            (Norm::Plain { weight, bias }, _) => y.broadcast_mul(weight)?.broadcast_add(bias)?,
        })
    }
}

/// `(x - mean) / sqrt(var + eps)` over the last dimension.
fn normalize(x: &Tensor) -> Result<Tensor> {
    let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    Ok(centred.broadcast_div(&(var + EPS)?.sqrt()?)?)
}

pub struct ConvNeXtBlock {
    /// Depthwise kernel as `(7, dim)`: row `k` multiplies input frame `t + k - 3`.
    pub(super) dw_taps: Tensor,
    pub(super) dw_bias: Tensor,
    pub(super) norm: Norm,
    /// `(dim, intermediate)`.
    pub(super) pw1_t: Tensor,
    pub(super) pw1_bias: Tensor,
    /// `(intermediate, dim)`.
    pub(super) pw2_t: Tensor,
    pub(super) pw2_bias: Tensor,
    pub(super) gamma: Tensor,
}

impl ConvNeXtBlock {
    fn load(ckpt: &Checkpoint, name: &str, cfg: &BackboneConfig) -> Result<Self> {
        let (dim, inter) = (cfg.dim, cfg.intermediate_dim);
        let t = |what: &str, shape: &[usize]| ckpt.tensor(&format!("{name}.{what}"), shape);
        Ok(Self {
            dw_taps: t("dwconv.weight", &[dim, 1, KERNEL])?
                .reshape((dim, KERNEL))?
                .t()?
                .contiguous()?,
            dw_bias: t("dwconv.bias", &[dim])?,
            norm: Norm::load(
                ckpt,
                &format!("{name}.norm"),
                dim,
                cfg.adanorm_num_embeddings,
            )?,
            pw1_t: t("pwconv1.weight", &[inter, dim])?.t()?.contiguous()?,
            pw1_bias: t("pwconv1.bias", &[inter])?,
            pw2_t: t("pwconv2.weight", &[dim, inter])?.t()?.contiguous()?,
            pw2_bias: t("pwconv2.bias", &[dim])?,
            gamma: t("gamma", &[dim])?,
        })
    }

    fn forward(&self, x: &Tensor, ids: Option<&Tensor>) -> Result<Tensor> {
        let y = depthwise(x, &self.dw_taps, &self.dw_bias)?;
        let y = self.norm.forward(&y, ids)?;
        let y = y
            .matmul(&self.pw1_t)?
            .broadcast_add(&self.pw1_bias)?
            .gelu_erf()?;
        let y = y.matmul(&self.pw2_t)?.broadcast_add(&self.pw2_bias)?;
        Ok((x + y.broadcast_mul(&self.gamma)?)?)
    }
}

/// Depthwise conv k 7 with zero padding 3 along frames of `x` `(T, dim)`: seven shifted
/// multiply-adds (candle's grouped conv would split into one conv per channel).
fn depthwise(x: &Tensor, taps: &Tensor, bias: &Tensor) -> Result<Tensor> {
    let frames = x.dim(0)?;
    let padded = x.pad_with_zeros(0, PAD, PAD)?;
    let mut acc = bias.unsqueeze(0)?.broadcast_as(x.shape())?.contiguous()?;
    for k in 0..KERNEL {
        acc = (acc + padded.narrow(0, k, frames)?.broadcast_mul(&taps.get(k)?)?)?;
    }
    Ok(acc)
}

pub struct Backbone {
    /// `(dim, input_channels, 7)`.
    pub(super) embed_weight: Tensor,
    pub(super) embed_bias: Tensor,
    pub(super) norm: Norm,
    pub(super) blocks: Vec<ConvNeXtBlock>,
    pub(super) final_norm: Norm,
    pub config: BackboneConfig,
}

impl Backbone {
    pub fn load(ckpt: &Checkpoint, cfg: &BackboneConfig) -> Result<Self> {
        let dim = cfg.dim;
        Ok(Self {
            embed_weight: ckpt
                .tensor("backbone.embed.weight", &[dim, cfg.input_channels, KERNEL])?,
            embed_bias: ckpt.tensor("backbone.embed.bias", &[dim])?,
            norm: Norm::load(ckpt, "backbone.norm", dim, cfg.adanorm_num_embeddings)?,
            blocks: (0..cfg.num_layers)
                .map(|i| ConvNeXtBlock::load(ckpt, &format!("backbone.convnext.{i}"), cfg))
                .collect::<Result<_>>()?,
            final_norm: Norm::load(ckpt, "backbone.final_layer_norm", dim, None)?,
            config: cfg.clone(),
        })
    }

    /// Features `(1, input_channels, T)` -> hidden states `(T, dim)`. `ids` `(T,)` u32 holds the
    /// bandwidth id of every frame (EnCodec variant only).
    pub fn forward(&self, features: &Tensor, ids: Option<&Tensor>) -> Result<Tensor> {
        let x = features.conv1d(&self.embed_weight, PAD, 1, 1, 1)?;
        let x = x.broadcast_add(&self.embed_bias.reshape((1, self.config.dim, 1))?)?;
        let mut x = x.squeeze(0)?.t()?.contiguous()?;
        x = self.norm.forward(&x, ids)?;
        for block in &self.blocks {
            x = block.forward(&x, ids)?;
        }
        self.final_norm.forward(&x, None)
    }
}

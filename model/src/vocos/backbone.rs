//! Vocos backbone (vocos `models.VocosBackbone`) on frame-major rows: embed conv (k 7, zero
//! padding 3) -> norm -> ConvNeXt blocks -> final LayerNorm, and its streaming form.
//!
//! Norms are AdaLayerNorm (EnCodec variant: affine rows chosen by the bandwidth id of each
//! frame) or LayerNorm (mel variant), both with eps 1e-6 and the biased variance.
//!
//! The nine k = 7 convs (embed and the eight ConvNeXt depthwise convs) pad with zeros on both
//! sides ([`PAD`] frames). Streaming, each keeps the input rows it still needs ([`ZeroPadded`]:
//! three zero rows at the stream start, like the offline padding) and emits output frame `t`
//! once input frame `t + 3` has arrived: [`LOOKAHEAD`] frames in all. The flush appends the
//! three zero rows of the right padding. Everything else works per frame, the AdaLayerNorm row
//! chosen by each frame's own bandwidth id (the ids travel with the rows).

use std::sync::Arc;

use candle_core::Tensor;

use super::config::BackboneConfig;
use crate::checkpoint::Checkpoint;
use crate::error::{ModelError, Result};
use crate::kernels::Dense;
use crate::streaming::{Composite, Rows, StreamingModule, pass};

const EPS: f32 = 1e-6;
const KERNEL: usize = 7;
/// Zero padding of every k = 7 conv on each side.
pub const PAD: usize = KERNEL / 2;
/// Frames of lookahead of the backbone: the embed conv and 8 ConvNeXt blocks, 3 frames each.
pub const LOOKAHEAD: usize = 9 * PAD;

fn flat(t: Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
}

/// A layer norm over each row: `(x - mean) / sqrt(var + eps)` (biased variance), then an
/// affine: AdaLayerNorm tables `(ids, dim)` indexed by the row's bandwidth id, or a plain one.
pub enum Norm {
    Ada { scale: Vec<f32>, shift: Vec<f32> },
    Plain { weight: Vec<f32>, bias: Vec<f32> },
}

impl Norm {
    fn load(ckpt: &Checkpoint, name: &str, dim: usize, ada: Option<usize>) -> Result<Self> {
        Ok(match ada {
            Some(n) => Norm::Ada {
                scale: flat(ckpt.tensor(&format!("{name}.scale.weight"), &[n, dim])?)?,
                shift: flat(ckpt.tensor(&format!("{name}.shift.weight"), &[n, dim])?)?,
            },
            None => Norm::Plain {
                weight: flat(ckpt.tensor(&format!("{name}.weight"), &[dim])?)?,
                bias: flat(ckpt.tensor(&format!("{name}.bias"), &[dim])?)?,
            },
        })
    }

    /// Normalises every row of `x` in place, each with its own id's affine.
    fn apply_rows(&self, x: &mut Rows) {
        if x.is_empty() {
            return;
        }
        let (dim, len) = (x.width(), x.len());
        let ids: Vec<usize> = x.ids().to_vec();
        for (r, row) in x.data_mut().chunks_exact_mut(dim).enumerate() {
            self.apply(row, ids.get(r % len).copied().unwrap_or(0));
        }
    }

    fn apply(&self, row: &mut [f32], id: usize) {
        let dim = row.len();
        let mean = row.iter().sum::<f32>() / dim as f32;
        row.iter_mut().for_each(|x| *x -= mean);
        let var = row.iter().map(|x| x * x).sum::<f32>() / dim as f32;
        let denom = (var + EPS).sqrt();
        let (scale, shift) = match self {
            Norm::Ada { scale, shift } => (
                &scale[id * dim..(id + 1) * dim],
                &shift[id * dim..(id + 1) * dim],
            ),
            Norm::Plain { weight, bias } => (&weight[..], &bias[..]),
        };
        for ((x, &s), &b) in row.iter_mut().zip(scale).zip(shift) {
            *x = *x / denom * s + b;
        }
    }

    fn is_ada(&self) -> bool {
        matches!(self, Norm::Ada { .. })
    }
}

/// ConvNeXt block: `x + gamma * pw2(gelu(pw1(norm(dwconv(x)))))`.
pub struct ConvNeXtBlock {
    /// Depthwise kernel as `(7, dim)`: row `k` multiplies input frame `t + k - 3`.
    dw_taps: Vec<f32>,
    dw_bias: Vec<f32>,
    norm: Norm,
    pw1: Dense,
    pw2: Dense,
    gamma: Vec<f32>,
}

impl ConvNeXtBlock {
    fn load(ckpt: &Checkpoint, name: &str, cfg: &BackboneConfig) -> Result<Self> {
        let (dim, inter) = (cfg.dim, cfg.intermediate_dim);
        let t = |what: &str, shape: &[usize]| ckpt.tensor(&format!("{name}.{what}"), shape);
        Ok(Self {
            dw_taps: flat(
                t("dwconv.weight", &[dim, 1, KERNEL])?
                    .reshape((dim, KERNEL))?
                    .t()?,
            )?,
            dw_bias: flat(t("dwconv.bias", &[dim])?)?,
            norm: Norm::load(
                ckpt,
                &format!("{name}.norm"),
                dim,
                cfg.adanorm_num_embeddings,
            )?,
            pw1: Dense::new(
                &t("pwconv1.weight", &[inter, dim])?,
                &t("pwconv1.bias", &[inter])?,
            )?,
            pw2: Dense::new(
                &t("pwconv2.weight", &[dim, inter])?,
                &t("pwconv2.bias", &[dim])?,
            )?,
            gamma: flat(t("gamma", &[dim])?)?,
        })
    }
}

pub struct Backbone {
    /// The embed conv as a dense layer on 7 consecutive input frames (tap-major).
    embed: Dense,
    norm: Norm,
    blocks: Vec<Arc<ConvNeXtBlock>>,
    final_norm: Norm,
    pub config: BackboneConfig,
}

impl Backbone {
    pub fn load(ckpt: &Checkpoint, cfg: &BackboneConfig) -> Result<Self> {
        let dim = cfg.dim;
        let embed = ckpt
            .tensor("backbone.embed.weight", &[dim, cfg.input_channels, KERNEL])?
            .permute((0, 2, 1))?
            .contiguous()?
            .reshape((dim, KERNEL * cfg.input_channels))?;
        Ok(Self {
            embed: Dense::new(&embed, &ckpt.tensor("backbone.embed.bias", &[dim])?)?,
            norm: Norm::load(ckpt, "backbone.norm", dim, cfg.adanorm_num_embeddings)?,
            blocks: (0..cfg.num_layers)
                .map(|i| {
                    Ok(Arc::new(ConvNeXtBlock::load(
                        ckpt,
                        &format!("backbone.convnext.{i}"),
                        cfg,
                    )?))
                })
                .collect::<Result<_>>()?,
            final_norm: Norm::load(ckpt, "backbone.final_layer_norm", dim, None)?,
            config: cfg.clone(),
        })
    }

    /// Whether the norms need a bandwidth id per frame (the EnCodec variant).
    pub fn needs_ids(&self) -> bool {
        self.norm.is_ada()
    }
}

/// The input rows of one k = 7 conv with zero padding 3 that later outputs still need, with
/// their ids; the first input comes after the three zero rows of the left padding. The rows
/// are empty only before the first input: computing outputs always leaves the last six rows,
/// the start of the next window.
struct ZeroPadded {
    rows: Rows,
}

impl ZeroPadded {
    fn new() -> Self {
        Self {
            rows: Rows::default(),
        }
    }

    /// Appends `x`, after the left padding at the stream start.
    fn push(&mut self, x: &Rows) {
        if x.is_empty() {
            return;
        }
        if self.rows.is_empty() {
            self.rows = Rows::empty(x.channels(), x.width());
            let id = (!x.ids().is_empty()).then_some(0);
            (0..PAD).for_each(|_| self.rows.push_constant(0.0, id));
        }
        self.rows.append(x);
    }

    /// The right padding: three zero rows after the last input (none if there was no input).
    fn finish(&mut self) {
        if !self.rows.is_empty() {
            let id = (!self.rows.ids().is_empty()).then_some(0);
            (0..PAD).for_each(|_| self.rows.push_constant(0.0, id));
        }
    }

    /// Outputs computable now: every output whose window of 7 rows is complete.
    fn ready(&self) -> usize {
        self.rows.len().saturating_sub(KERNEL - 1)
    }

    /// The ids of the next `outputs` outputs (those of their centre rows).
    fn output_ids(&self, outputs: usize) -> Vec<usize> {
        match self.rows.ids() {
            [] => Vec::new(),
            ids => ids[PAD..PAD + outputs].to_vec(),
        }
    }

    /// Drops the rows no later output needs after `outputs` outputs.
    fn consume(&mut self, outputs: usize) {
        self.rows.drop_front(outputs);
    }
}

/// A layer whose output frame `t` is computed from the window of input frames `t - 3 ..= t + 3`
/// (zero-padded): the embed conv and the ConvNeXt blocks.
trait Windowed {
    /// Appends the next `outputs` output rows, from the windows of `input`'s first rows.
    fn compute(&self, input: &ZeroPadded, outputs: usize, out: &mut Rows) -> Result<()>;
}

/// A [`Windowed`] layer streaming: the rows its next windows need, beside the layer.
struct WindowStream<L> {
    layer: L,
    input: ZeroPadded,
}

impl<L: Windowed> WindowStream<L> {
    fn new(layer: L) -> Self {
        Self {
            layer,
            input: ZeroPadded::new(),
        }
    }

    fn compute_ready(&mut self, out: &mut Rows) -> Result<()> {
        let outputs = self.input.ready();
        if outputs > 0 {
            self.layer.compute(&self.input, outputs, out)?;
            self.input.consume(outputs);
        }
        Ok(())
    }
}

impl<L: Windowed> StreamingModule for WindowStream<L> {
    fn step(&mut self, x: &Rows, out: &mut Rows) -> Result<()> {
        self.input.push(x);
        self.compute_ready(out)
    }

    fn flush(&mut self, out: &mut Rows) -> Result<()> {
        self.input.finish();
        self.compute_ready(out)
    }

    fn reset(&mut self) {
        self.input = ZeroPadded::new();
    }
}

/// The embed conv and the norm after it.
struct Embed(Arc<Backbone>);

impl Windowed for Embed {
    fn compute(&self, input: &ZeroPadded, outputs: usize, out: &mut Rows) -> Result<()> {
        let backbone = &self.0;
        let rows = &input.rows;
        let width = rows.width();
        let mut windows = Vec::with_capacity(rows.channels() * outputs * KERNEL * width);
        for n in 0..rows.channels() {
            for t in 0..outputs {
                windows.extend_from_slice(rows.rows(n, t..t + KERNEL));
            }
        }
        let y = backbone.embed.forward(&windows);
        let mut y = Rows::new(
            y,
            rows.channels(),
            backbone.config.dim,
            input.output_ids(outputs),
        );
        backbone.norm.apply_rows(&mut y);
        out.append(&y);
        Ok(())
    }
}

impl Windowed for Arc<ConvNeXtBlock> {
    /// `x + gamma * pw2(gelu(pw1(norm(dwconv(x)))))`.
    fn compute(&self, input: &ZeroPadded, outputs: usize, out: &mut Rows) -> Result<()> {
        let rows = &input.rows;
        let (channels, dim) = (rows.channels(), rows.width());
        let ids = input.output_ids(outputs);
        let mut y = vec![0f32; channels * outputs * dim];
        for (n, y) in y.chunks_exact_mut(outputs * dim).enumerate() {
            for (t, out) in y.chunks_exact_mut(dim).enumerate() {
                out.copy_from_slice(&self.dw_bias);
                for k in 0..KERNEL {
                    let input = rows.rows(n, t + k..t + k + 1);
                    let taps = &self.dw_taps[k * dim..(k + 1) * dim];
                    for ((o, &v), &w) in out.iter_mut().zip(input).zip(taps) {
                        *o += v * w;
                    }
                }
                self.norm.apply(out, ids.get(t).copied().unwrap_or(0));
            }
        }
        let mut hidden = self.pw1.forward(&y);
        hidden.iter_mut().for_each(|v| *v = gelu(*v));
        let mut y = self.pw2.forward(&hidden);
        for (n, y) in y.chunks_exact_mut(outputs * dim).enumerate() {
            let residual = rows.rows(n, PAD..PAD + outputs);
            for ((o, &r), &g) in y.iter_mut().zip(residual).zip(self.gamma.iter().cycle()) {
                *o = r + *o * g;
            }
        }
        out.append(&Rows::new(y, channels, dim, ids));
        Ok(())
    }
}

/// The backbone streaming: feature rows (with their bandwidth ids for the EnCodec variant) in,
/// hidden rows out, [`LOOKAHEAD`] frames behind.
pub struct BackboneStream {
    backbone: Arc<Backbone>,
    embed: WindowStream<Embed>,
    blocks: Vec<WindowStream<Arc<ConvNeXtBlock>>>,
}

impl BackboneStream {
    pub fn new(backbone: Arc<Backbone>) -> Self {
        Self {
            embed: WindowStream::new(Embed(backbone.clone())),
            blocks: backbone
                .blocks
                .iter()
                .map(|block| WindowStream::new(block.clone()))
                .collect(),
            backbone,
        }
    }
}

impl Composite for BackboneStream {
    fn run(&mut self, x: &Rows, flush: bool, out: &mut Rows) -> Result<()> {
        if x.width() != 0 && x.width() != self.backbone.config.input_channels {
            return Err(ModelError::FeatureWidth {
                width: x.width(),
                expected: self.backbone.config.input_channels,
            });
        }
        if !x.is_empty() && self.backbone.needs_ids() && x.ids().is_empty() {
            return Err(ModelError::MissingBandwidthId);
        }
        let mut x = pass(&mut self.embed, x, flush)?;
        for block in &mut self.blocks {
            x = pass(block, &x, flush)?;
        }
        self.backbone.final_norm.apply_rows(&mut x);
        out.append(&x);
        Ok(())
    }

    fn reset_parts(&mut self) {
        self.embed.reset();
        self.blocks.iter_mut().for_each(WindowStream::reset);
    }
}

/// GELU with the exact erf, as candle's `gelu_erf`.
fn gelu(v: f32) -> f32 {
    (candle_core::cpu::erf::erf_f32(v * std::f32::consts::FRAC_1_SQRT_2) + 1.0) * 0.5 * v
}

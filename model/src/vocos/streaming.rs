//! Streaming Vocos: feature frames in, audio out as soon as it is final, equal to the offline
//! [`super::Vocos::decode`] with the same per-frame bandwidth ids.
//!
//! The backbone's nine k = 7 convs (embed and the eight ConvNeXt depthwise convs) pad with
//! zeros on both sides (3 frames). Streaming, each keeps the input rows it still needs (three
//! zero rows at the stream start, like the offline padding) and emits output frame `t` once
//! input frame `t + 3` has arrived: [`LOOKAHEAD`] = 27 frames in all. Everything else works per
//! frame, the AdaLayerNorm row chosen by each frame's own bandwidth id. The head turns each
//! hidden frame into a windowed time frame and [`StreamingOverlapAdd`] emits the samples that no
//! later frame reaches.
//!
//! Timing: after feature frames `0..F`, backbone frames `0..F - 27` are final and so are output
//! samples `n < (F - 27) * hop - trim` (trim 480 for `same`, 512 for `center` padding).
//!
//! One stream runs several channels in step (same frames, same bandwidth ids): every layer is
//! one matrix product over all channels' frames, so the weights are read once per push.
//! Signals are channel-major: channel `n`'s frames, then channel `n + 1`'s.
//!
//! Weights are the offline model's, in the slice and row forms of [`StreamWeights`], built
//! once per model and shared by every stream.

use std::sync::Arc;

use candle_core::Tensor;
use vocos_dsp::istft::FrameSynthesizer;
use vocos_dsp::overlap_add::StreamingOverlapAdd;

use super::Vocos;
use super::backbone::{Backbone, EPS, KERNEL, Norm, PAD};
use super::head::{IstftHead, MAX_MAGNITUDE};
use crate::error::{ModelError, Result};
use crate::kernels::Dense;

/// Frames of lookahead of the backbone: 9 convs of right padding 3.
pub const LOOKAHEAD: usize = 9 * PAD;

/// A layer norm on slices: AdaLayerNorm tables `(ids, dim)` or a plain affine.
enum SliceNorm {
    Ada { scale: Vec<f32>, shift: Vec<f32> },
    Plain { weight: Vec<f32>, bias: Vec<f32> },
}

impl SliceNorm {
    fn new(norm: &Norm) -> Result<Self> {
        let flat = |t: &Tensor| -> Result<Vec<f32>> { Ok(t.flatten_all()?.to_vec1::<f32>()?) };
        Ok(match norm {
            Norm::Ada { scale, shift } => SliceNorm::Ada {
                scale: flat(scale)?,
                shift: flat(shift)?,
            },
            Norm::Plain { weight, bias } => SliceNorm::Plain {
                weight: flat(weight)?,
                bias: flat(bias)?,
            },
        })
    }

    /// Normalises `row` in place: `(x - mean) / sqrt(var + eps)` (biased variance), then the
    /// affine of bandwidth `id`.
    fn apply(&self, row: &mut [f32], id: usize) {
        let dim = row.len();
        let mean = row.iter().sum::<f32>() / dim as f32;
        row.iter_mut().for_each(|x| *x -= mean);
        let var = row.iter().map(|x| x * x).sum::<f32>() / dim as f32;
        let denom = (var + EPS as f32).sqrt();
        let (scale, shift) = match self {
            SliceNorm::Ada { scale, shift } => (
                &scale[id * dim..(id + 1) * dim],
                &shift[id * dim..(id + 1) * dim],
            ),
            SliceNorm::Plain { weight, bias } => (&weight[..], &bias[..]),
        };
        for ((x, &s), &b) in row.iter_mut().zip(scale).zip(shift) {
            *x = *x / denom * s + b;
        }
    }
}

struct BlockWeights {
    /// `(7, dim)`: row `k` multiplies input frame `t + k - 3`.
    dw_taps: Vec<f32>,
    dw_bias: Vec<f32>,
    norm: SliceNorm,
    pw1: Dense,
    pw2: Dense,
    gamma: Vec<f32>,
}

/// The backbone and head weights in the forms the stream computes with.
pub struct StreamWeights {
    dim: usize,
    input_channels: usize,
    /// Embed conv as a dense layer on 7 consecutive input frames (tap-major).
    embed: Dense,
    norm: SliceNorm,
    blocks: Vec<BlockWeights>,
    final_norm: SliceNorm,
    head: Dense,
}

impl StreamWeights {
    pub fn new(backbone: &Backbone, head: &IstftHead) -> Result<Self> {
        let vec = |t: &Tensor| -> Result<Vec<f32>> { Ok(t.flatten_all()?.to_vec1::<f32>()?) };
        let (dim, input_channels, _) = backbone.embed_weight.dims3()?;
        let embed = backbone
            .embed_weight
            .permute((0, 2, 1))?
            .contiguous()?
            .reshape((dim, KERNEL * input_channels))?;
        let blocks = backbone
            .blocks
            .iter()
            .map(|b| {
                Ok(BlockWeights {
                    dw_taps: vec(&b.dw_taps)?,
                    dw_bias: vec(&b.dw_bias)?,
                    norm: SliceNorm::new(&b.norm)?,
                    pw1: Dense::new(&b.pw1_t.t()?.contiguous()?, &b.pw1_bias)?,
                    pw2: Dense::new(&b.pw2_t.t()?.contiguous()?, &b.pw2_bias)?,
                    gamma: vec(&b.gamma)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            dim,
            input_channels,
            embed: Dense::new(&embed, &backbone.embed_bias)?,
            norm: SliceNorm::new(&backbone.norm)?,
            blocks,
            final_norm: SliceNorm::new(&backbone.final_norm)?,
            head: Dense::new(&head.out_t.t()?.contiguous()?, &head.out_bias)?,
        })
    }
}

/// Input rows of one k = 7 zero-padded conv that later outputs still need, per channel, with
/// each row's bandwidth id; starts as the three zero rows of the left padding.
struct ConvRows {
    width: usize,
    /// Per channel, time-major rows of `width` values.
    rows: Vec<Vec<f32>>,
    ids: Vec<usize>,
}

impl ConvRows {
    fn new(width: usize, channels: usize) -> Self {
        let mut rows = Self {
            width,
            rows: vec![Vec::new(); channels],
            ids: Vec::new(),
        };
        rows.reset();
        rows
    }

    fn reset(&mut self) {
        for rows in &mut self.rows {
            rows.clear();
            rows.resize(PAD * self.width, 0.0);
        }
        self.ids.clear();
        self.ids.resize(PAD, 0);
    }

    /// Appends `rows` (channel-major, `ids.len()` rows per channel).
    fn push(&mut self, rows: &[f32], ids: &[usize]) {
        let per_channel = ids.len() * self.width;
        for (mine, new) in self.rows.iter_mut().zip(rows.chunks_exact(per_channel)) {
            mine.extend_from_slice(new);
        }
        self.ids.extend_from_slice(ids);
    }

    /// Outputs computable now: every output whose window of 7 rows is complete.
    fn ready(&self) -> usize {
        self.ids.len().saturating_sub(KERNEL - 1)
    }

    /// Drops the rows that no later output needs after `outputs` outputs.
    fn consume(&mut self, outputs: usize) {
        for rows in &mut self.rows {
            rows.drain(..outputs * self.width);
        }
        self.ids.drain(..outputs);
    }
}

/// One stream of one or more channels through a shared [`Vocos`].
pub struct VocosStream {
    model: Arc<Vocos>,
    embed: ConvRows,
    blocks: Vec<ConvRows>,
    synth: FrameSynthesizer,
    /// Per channel.
    overlap_add: Vec<StreamingOverlapAdd>,
    frame: Vec<f32>,
    magnitude: Vec<f32>,
}

impl VocosStream {
    /// A stream of `channels` signals.
    pub fn new(model: Arc<Vocos>, channels: usize) -> Result<Self> {
        let weights = &model.streaming;
        let head = &model.head;
        let istft = |e| ModelError::Input(format!("inverse STFT: {e}"));
        let n_fft = head.config.n_fft;
        let overlap_add = (0..channels)
            .map(|_| {
                StreamingOverlapAdd::new(head.window(), head.config.hop_length, head.padding())
                    .map_err(istft)
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            embed: ConvRows::new(weights.input_channels, channels),
            blocks: (0..weights.blocks.len())
                .map(|_| ConvRows::new(weights.dim, channels))
                .collect(),
            synth: FrameSynthesizer::new(n_fft, head.window().to_vec()).map_err(istft)?,
            overlap_add,
            frame: vec![0.0; n_fft],
            magnitude: vec![0.0; n_fft / 2 + 1],
            model,
        })
    }

    pub fn channels(&self) -> usize {
        self.overlap_add.len()
    }

    /// Output samples withheld at the stream start by the ISTFT trim.
    pub fn trim(&self) -> usize {
        self.overlap_add[0].trim()
    }

    /// Feeds feature frames of every channel (channel-major, the same number of frames of
    /// `input_channels` values each) with their bandwidth ids, one per frame, shared by the
    /// channels (EnCodec variant; `None` for the mel variant) and appends the audio samples
    /// now final to `out[channel]`.
    pub fn push_frames(
        &mut self,
        features: &[f32],
        bandwidth_ids: Option<&[usize]>,
        out: &mut [Vec<f32>],
    ) -> Result<()> {
        let model = self.model.clone();
        let weights = &model.streaming;
        let channels = self.channels();
        if out.len() != channels
            || !features
                .len()
                .is_multiple_of(channels * weights.input_channels)
        {
            return Err(ModelError::Input(format!(
                "{} values of features and {} outputs for {channels} channels of {} features",
                features.len(),
                out.len(),
                weights.input_channels
            )));
        }
        let frames = features.len() / (channels * weights.input_channels);
        let ids: Vec<usize> = match bandwidth_ids {
            Some(ids) if ids.len() == frames => {
                for &id in ids {
                    self.model.codebooks_for_id(id)?;
                }
                ids.to_vec()
            }
            Some(ids) => {
                return Err(ModelError::Input(format!(
                    "{} bandwidth ids for {frames} frames",
                    ids.len()
                )));
            }
            None if matches!(weights.norm, SliceNorm::Ada { .. }) => {
                return Err(ModelError::Input(
                    "the EnCodec variant needs a bandwidth id per frame".into(),
                ));
            }
            None => vec![0; frames],
        };
        self.embed.push(features, &ids);
        let Some((mut x, mut ids)) = self.embed_step()? else {
            return Ok(());
        };
        for index in 0..self.blocks.len() {
            match self.block_step(index, &x, &ids)? {
                Some((y, y_ids)) => (x, ids) = (y, y_ids),
                None => return Ok(()),
            }
        }
        let dim = weights.dim;
        for row in x.chunks_exact_mut(dim) {
            weights.final_norm.apply(row, 0);
        }
        let spectra = weights.head.forward(&x)?;
        let bins = self.magnitude.len();
        let istft = |e| ModelError::Input(format!("inverse STFT: {e}"));
        let per_channel = ids.len() * 2 * bins;
        for ((spectra, overlap_add), out) in spectra
            .chunks_exact(per_channel)
            .zip(&mut self.overlap_add)
            .zip(out)
        {
            for row in spectra.chunks_exact(2 * bins) {
                for (m, &v) in self.magnitude.iter_mut().zip(&row[..bins]) {
                    *m = v.exp().min(MAX_MAGNITUDE);
                }
                self.synth
                    .synthesize_polar(&self.magnitude, &row[bins..], &mut self.frame)
                    .map_err(istft)?;
                overlap_add.push(&self.frame, out).map_err(istft)?;
            }
        }
        Ok(())
    }

    /// The embed conv and its norm on the frames now complete: `(channels, outputs, dim)`.
    fn embed_step(&mut self) -> Result<Option<(Vec<f32>, Vec<usize>)>> {
        let model = self.model.clone();
        let weights = &model.streaming;
        let outputs = self.embed.ready();
        if outputs == 0 {
            return Ok(None);
        }
        let width = self.embed.width;
        let mut windows = Vec::with_capacity(self.channels() * outputs * KERNEL * width);
        for rows in &self.embed.rows {
            for t in 0..outputs {
                windows.extend_from_slice(&rows[t * width..(t + KERNEL) * width]);
            }
        }
        let mut x = weights.embed.forward(&windows)?;
        let ids = self.embed.ids[PAD..PAD + outputs].to_vec();
        for (row, &id) in x.chunks_exact_mut(weights.dim).zip(ids.iter().cycle()) {
            weights.norm.apply(row, id);
        }
        self.embed.consume(outputs);
        Ok(Some((x, ids)))
    }

    /// ConvNeXt block `index`: `x + gamma * pw2(gelu(pw1(norm(dwconv(x)))))` on the frames now
    /// complete; `x` is `(channels, frames, dim)`.
    fn block_step(
        &mut self,
        index: usize,
        x: &[f32],
        ids: &[usize],
    ) -> Result<Option<(Vec<f32>, Vec<usize>)>> {
        let model = self.model.clone();
        let weights = &model.streaming.blocks[index];
        let dim = model.streaming.dim;
        let channels = self.channels();
        let state = &mut self.blocks[index];
        state.push(x, ids);
        let outputs = state.ready();
        if outputs == 0 {
            return Ok(None);
        }
        let mut y = vec![0f32; channels * outputs * dim];
        for (rows, y) in state.rows.iter().zip(y.chunks_exact_mut(outputs * dim)) {
            for (t, out) in y.chunks_exact_mut(dim).enumerate() {
                out.copy_from_slice(&weights.dw_bias);
                for k in 0..KERNEL {
                    let input = &rows[(t + k) * dim..(t + k + 1) * dim];
                    let taps = &weights.dw_taps[k * dim..(k + 1) * dim];
                    for ((o, &v), &w) in out.iter_mut().zip(input).zip(taps) {
                        *o += v * w;
                    }
                }
                weights.norm.apply(out, state.ids[t + PAD]);
            }
        }
        let mut hidden = weights.pw1.forward(&y)?;
        hidden.iter_mut().for_each(|v| *v = gelu(*v));
        let mut y = weights.pw2.forward(&hidden)?;
        for (rows, y) in state.rows.iter().zip(y.chunks_exact_mut(outputs * dim)) {
            for (t, out) in y.chunks_exact_mut(dim).enumerate() {
                let residual = &rows[(t + PAD) * dim..(t + PAD + 1) * dim];
                for ((o, &g), &r) in out.iter_mut().zip(&weights.gamma).zip(residual) {
                    *o = r + *o * g;
                }
            }
        }
        let out_ids = state.ids[PAD..PAD + outputs].to_vec();
        state.consume(outputs);
        Ok(Some((y, out_ids)))
    }

    /// Back to the stream start.
    pub fn reset(&mut self) {
        self.embed.reset();
        self.blocks.iter_mut().for_each(ConvRows::reset);
        self.overlap_add
            .iter_mut()
            .for_each(StreamingOverlapAdd::reset);
    }
}

/// GELU with the exact erf, as candle's `gelu_erf`.
fn gelu(v: f32) -> f32 {
    (candle_core::cpu::erf::erf_f32(v * std::f32::consts::FRAC_1_SQRT_2) + 1.0) * 0.5 * v
}

//! EnCodec's `SConv1d`: a weight-normed Conv1d with causal reflect padding (encodec
//! `modules/conv.py`). Weight norm is folded into a plain kernel at load time.

use candle_core::{D, DType, Tensor};

use super::names::EncodecWeights;
use crate::error::Result;
use crate::kernels::{FEW_ROWS, Panels, RowLayout};

/// Static shape of one conv layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvSpec {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub dilation: usize,
}

impl ConvSpec {
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        dilation: usize,
    ) -> Self {
        Self {
            in_channels,
            out_channels,
            kernel,
            stride,
            dilation,
        }
    }

    /// `(k - 1) * d + 1`: the span of input one output sample sees.
    pub fn effective_kernel(&self) -> usize {
        (self.kernel - 1) * self.dilation + 1
    }

    /// `(k - 1) * d - (s - 1)`: all of it goes to the left in causal mode.
    pub fn padding_total(&self) -> usize {
        (self.kernel - 1) * self.dilation + 1 - self.stride
    }

    /// Right padding that makes the last window complete:
    /// `(ceil((L - k + P) / s + 1) - 1) * s + (k - P) - L` (encodec `get_extra_padding_for_conv1d`).
    pub fn extra_padding(&self, len: usize) -> usize {
        let (k, s, p) = (
            self.effective_kernel() as i64,
            self.stride as i64,
            self.padding_total() as i64,
        );
        let n_frames = (len as i64 - k + p) as f64 / s as f64 + 1.0;
        let ideal = (n_frames.ceil() as i64 - 1) * s + (k - p);
        (ideal - len as i64).max(0) as usize
    }
}

/// A conv layer with its folded kernel and bias, run on time-major signals `(L, channels)`.
///
/// Time-major because every conv then is one matrix product `windows @ taps` whose left factor
/// is built from contiguous row blocks: for stride 1 the window of output `t` is rows
/// `t..t+k` of the padded input, and for stride `s` (with `k` a multiple of `s`, as in SEANet)
/// it is `k / s` consecutive rows of the input viewed as `(L / s, s * channels)`. candle's own
/// conv1d (im2col) gathers element by element and transposes its output, several times slower
/// here.
pub struct WeightNormConv1d {
    pub spec: ConvSpec,
    /// Folded kernel `(out, in, k)`, f32, as the reference computes it.
    pub weight: Tensor,
    /// Bias `(out,)`, f32.
    pub bias: Tensor,
    /// The kernel as `(out, k * in)`, tap-major columns, in the compute dtype. Used transposed
    /// (a view): gemm runs this orientation 1.5-2.5x faster for short chunks than a
    /// contiguous `(k * in, out)` copy.
    taps: Tensor,
    /// Bias `(1, out)` in the compute dtype.
    bias_row: Tensor,
    /// The kernel and bias packed for a few windows at a time.
    panels: Panels,
    /// Whether products are summed in f64.
    f64_sums: bool,
}

impl WeightNormConv1d {
    /// Loads `{name}.conv.conv.{weight_g, weight_v, bias}` and folds `w = g * v / ||v||`, the norm
    /// taken per output channel over (in, k), without epsilon (torch `weight_norm`, dim 0). The
    /// fold runs in f64 and is rounded once to f32. The layer computes in `compute` (f32, or f64
    /// for layers whose output cancels heavily, see [`super::seanet`]).
    pub fn load(
        weights: &EncodecWeights,
        name: &str,
        spec: ConvSpec,
        compute: DType,
    ) -> Result<Self> {
        let ConvSpec {
            in_channels,
            out_channels,
            kernel,
            ..
        } = spec;
        let g = weights.tensor(&format!("{name}.conv.conv.weight_g"), &[out_channels, 1, 1])?;
        let v = weights.tensor(
            &format!("{name}.conv.conv.weight_v"),
            &[out_channels, in_channels, kernel],
        )?;
        let bias = weights.tensor(&format!("{name}.conv.conv.bias"), &[out_channels])?;
        let (g, v) = (g.to_dtype(DType::F64)?, v.to_dtype(DType::F64)?);
        let norm = v.sqr()?.sum_keepdim(D::Minus1)?.sum_keepdim(1)?.sqrt()?;
        let weight = v
            .broadcast_mul(&g.broadcast_div(&norm)?)?
            .to_dtype(DType::F32)?;
        let taps = weight
            .permute((0, 2, 1))?
            .contiguous()?
            .reshape((out_channels, kernel * in_channels))?
            .to_dtype(compute)?;
        let bias_row = bias.reshape((1, out_channels))?.to_dtype(compute)?;
        let taps_f32 = taps.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let bias_f32 = bias.to_vec1::<f32>()?;
        let panels = Panels::new(&taps_f32, &bias_f32, kernel * in_channels);
        Ok(Self {
            spec,
            weight,
            bias,
            taps,
            bias_row,
            panels,
            f64_sums: compute == DType::F64,
        })
    }

    /// Offline forward of the time-major f32 signal `x` `(L, in)`, `L >= 1`: causal reflect
    /// padding, then the convolution. Output `(L', out)` f32 with `L' = ceil(L / stride)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = x.to_dtype(self.taps.dtype())?;
        let len = x.dim(0)?;
        let padded = reflect_pad(
            &x,
            0,
            self.spec.padding_total(),
            self.spec.extra_padding(len),
        )?;
        self.convolve(&padded)
    }

    /// The convolution of an already padded time-major signal `(L, in)`, `L >= k_eff`: every
    /// complete window, `(L - k_eff) / stride + 1` outputs `(.., out)` f32.
    pub fn convolve(&self, padded: &Tensor) -> Result<Tensor> {
        let len = padded.dim(0)?;
        let frames = (len - self.spec.effective_kernel()) / self.spec.stride + 1;
        if frames <= FEW_ROWS {
            let input = padded
                .to_dtype(DType::F32)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            let y = self.convolve_channels(&input, 1, len);
            return Ok(Tensor::from_vec(
                y,
                (frames, self.spec.out_channels),
                padded.device(),
            )?);
        }
        let padded = padded.to_dtype(self.taps.dtype())?;
        let y = windows(&padded, &self.spec, frames)?
            .matmul(&self.taps.t()?)?
            .broadcast_add(&self.bias_row)?;
        Ok(y.to_dtype(DType::F32)?)
    }

    /// The number of outputs of a padded signal of `len` rows (`len >= k_eff`).
    pub fn outputs(&self, len: usize) -> usize {
        (len - self.spec.effective_kernel()) / self.spec.stride + 1
    }

    /// [`Self::convolve`] of `channels` padded signals of `len` rows each, channel-major
    /// `(N, L, in)`, with the packed kernels, reading the weights once for all channels:
    /// `(N, outputs(L), out)`.
    pub fn convolve_channels(&self, padded: &[f32], channels: usize, len: usize) -> Vec<f32> {
        let frames = self.outputs(len);
        let cin = self.spec.in_channels;
        assert_eq!(padded.len(), channels * len * cin, "signal shape");
        if self.spec.dilation == 1 {
            // Window `t` of a channel is `k * in` consecutive values from `t * stride * in`:
            // the kernel reads them in place.
            let layout = RowLayout {
                rows: channels * frames,
                per_group: frames,
                group_stride: len * cin,
                row_stride: self.spec.stride * cin,
            };
            return self.panels.forward_rows(padded, layout, self.f64_sums);
        }
        let width = self.spec.kernel * cin;
        let mut windows = Vec::with_capacity(channels * frames * width);
        for signal in padded.chunks_exact(len * cin) {
            window_rows(signal, &self.spec, frames, &mut windows);
        }
        self.panels.forward(&windows, self.f64_sums)
    }
}

/// Appends the windows of `frames` outputs to `rows`, as rows of `k * in` values (tap-major),
/// from the time-major padded input.
fn window_rows(padded: &[f32], spec: &ConvSpec, frames: usize, rows: &mut Vec<f32>) {
    let cin = spec.in_channels;
    for t in 0..frames {
        for i in 0..spec.kernel {
            let at = (t * spec.stride + i * spec.dilation) * cin;
            rows.extend_from_slice(&padded[at..at + cin]);
        }
    }
}

/// The input windows of all outputs, `(frames, k * in)`: row `t`, column `i * in + c` holds
/// `padded[i * dilation + t * stride, c]`, so that `windows @ taps^T` is the convolution.
fn windows(padded: &Tensor, spec: &ConvSpec, frames: usize) -> Result<Tensor> {
    let ConvSpec {
        kernel,
        stride,
        dilation,
        ..
    } = *spec;
    let (len, channels) = padded.dims2()?;
    if kernel == 1 && stride == 1 {
        return Ok(padded.narrow(0, 0, frames)?);
    }
    let blocks: Vec<Tensor> = if stride == 1 {
        (0..kernel)
            .map(|i| Ok(padded.narrow(0, i * dilation, frames)?))
            .collect::<Result<_>>()?
    } else if dilation == 1 {
        // View `(len / s, s * in)`: taps `q*s .. q*s + s` of output `t` are row `t + q`.
        let rounded = len.div_ceil(stride) * stride;
        let grouped = padded
            .pad_with_zeros(0, 0, rounded - len)?
            .reshape((rounded / stride, stride * channels))?;
        (0..kernel.div_ceil(stride))
            .map(|q| {
                let taps_here = stride.min(kernel - q * stride);
                Ok(grouped
                    .narrow(0, q, frames)?
                    .narrow(1, 0, taps_here * channels)?)
            })
            .collect::<Result<_>>()?
    } else {
        (0..kernel)
            .map(|i| rows(padded, (0..frames).map(|t| i * dilation + t * stride)))
            .collect::<Result<_>>()?
    };
    Ok(Tensor::cat(&blocks, 1)?)
}

/// Rows `indices` of a 2-D tensor.
fn rows(x: &Tensor, indices: impl Iterator<Item = usize>) -> Result<Tensor> {
    let indices: Vec<u32> = indices.map(|i| i as u32).collect();
    let count = indices.len();
    Ok(x.index_select(&Tensor::from_vec(indices, count, x.device())?, 0)?)
}

/// encodec `pad1d(x, (left, right), mode='reflect')` along dimension `dim`, including its
/// handling of inputs not longer than the padding: zero-extend the far end first so the
/// reflection is defined, then crop those zeros off the reflected result.
pub fn reflect_pad(x: &Tensor, dim: usize, left: usize, right: usize) -> Result<Tensor> {
    if left == 0 && right == 0 {
        return Ok(x.clone());
    }
    let len = x.dim(dim)?;
    let max_pad = left.max(right);
    let extra_zeros = if len <= max_pad { max_pad - len + 1 } else { 0 };
    let source = if extra_zeros > 0 {
        x.pad_with_zeros(dim, 0, extra_zeros)?
    } else {
        x.clone()
    };
    let extended = len + extra_zeros;
    let gather = |indices: Vec<u32>| -> Result<Tensor> {
        let count = indices.len();
        let index = Tensor::from_vec(indices, count, x.device())?;
        Ok(source.index_select(&index, dim)?)
    };
    let mut parts = Vec::with_capacity(3);
    if left > 0 {
        parts.push(gather((1..=left).rev().map(|i| i as u32).collect())?);
    }
    parts.push(source.clone());
    if right > 0 {
        parts.push(gather(
            (0..right).map(|i| (extended - 2 - i) as u32).collect(),
        )?);
    }
    let padded = Tensor::cat(&parts, dim)?;
    Ok(padded.narrow(dim, 0, left + extended + right - extra_zeros)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_convs_give_ceil_len_over_stride_frames() {
        for (k, s) in [(4, 2), (8, 4), (10, 5), (16, 8)] {
            let spec = ConvSpec::new(1, 1, k, s, 1);
            for len in 1..100 {
                let padded = len + spec.padding_total() + spec.extra_padding(len);
                let frames = (padded - spec.effective_kernel()) / s + 1;
                assert_eq!(frames, len.div_ceil(s), "k={k} s={s} len={len}");
            }
        }
    }

    /// Direct evaluation of the definition: padded with the reference's rule, then
    /// `y[t, o] = b[o] + sum_{c, i} w[o, c, i] * x[i * d + t * s, c]`.
    fn naive_conv(x: &[Vec<f32>], w: &Tensor, b: &Tensor, spec: &ConvSpec) -> Vec<Vec<f32>> {
        let xt = Tensor::new(x.to_vec(), &candle_core::Device::Cpu).unwrap();
        let p = reflect_pad(&xt, 0, spec.padding_total(), spec.extra_padding(x.len())).unwrap();
        let p = p.to_vec2::<f32>().unwrap();
        let w = w.to_vec3::<f32>().unwrap();
        let b = b.to_vec1::<f32>().unwrap();
        let frames = (p.len() - spec.effective_kernel()) / spec.stride + 1;
        (0..frames)
            .map(|t| {
                (0..spec.out_channels)
                    .map(|o| {
                        let mut acc = f64::from(b[o]);
                        for (c, taps) in w[o].iter().enumerate() {
                            for (i, &wv) in taps.iter().enumerate() {
                                acc += f64::from(wv)
                                    * f64::from(p[i * spec.dilation + t * spec.stride][c]);
                            }
                        }
                        acc as f32
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn matrix_form_equals_the_definition_for_every_kind_of_conv() {
        use crate::checkpoint::Checkpoint;
        use crate::encodec::names::{EncodecWeights, Layout};
        use std::collections::HashMap;
        let dev = candle_core::Device::Cpu;
        // (in, out, k, stride, dilation): stride 1, dilated, 1x1, k = 2s strided, k not a
        // multiple of s, dilated and strided.
        for (cin, cout, k, s, d) in [
            (3, 5, 7, 1, 1),
            (4, 2, 3, 1, 2),
            (3, 4, 1, 1, 1),
            (2, 3, 8, 4, 1),
            (2, 3, 5, 2, 1),
            (2, 2, 3, 2, 2),
        ] {
            let spec = ConvSpec::new(cin, cout, k, s, d);
            let mut tensors = HashMap::new();
            tensors.insert(
                "c.conv.conv.weight_g".to_string(),
                Tensor::rand(0.5f32, 1.5, (cout, 1, 1), &dev).unwrap(),
            );
            tensors.insert(
                "c.conv.conv.weight_v".to_string(),
                Tensor::randn(0f32, 1.0, (cout, cin, k), &dev).unwrap(),
            );
            tensors.insert(
                "c.conv.conv.bias".to_string(),
                Tensor::randn(0f32, 1.0, cout, &dev).unwrap(),
            );
            let checkpoint = Checkpoint::from_tensors(std::path::Path::new("mem"), tensors);
            let weights = EncodecWeights {
                checkpoint: &checkpoint,
                layout: Layout::Original,
                prefix: String::new(),
            };
            for compute in [DType::F32, DType::F64] {
                let conv = WeightNormConv1d::load(&weights, "c", spec, compute).unwrap();
                for len in [1usize, 2, 5, 9, 16, 23] {
                    let x: Vec<Vec<f32>> = (0..len)
                        .map(|t| {
                            (0..cin)
                                .map(|c| ((t * 7 + c * 3) as f32 * 0.37).sin())
                                .collect()
                        })
                        .collect();
                    let xt = Tensor::new(x.clone(), &dev).unwrap();
                    let got = conv.forward(&xt).unwrap().to_vec2::<f32>().unwrap();
                    let want = naive_conv(&x, &conv.weight, &conv.bias, &spec);
                    assert_eq!(got.len(), len.div_ceil(s), "{spec:?} len {len}");
                    for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
                        assert!(
                            (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
                            "{spec:?} len {len}: {g} vs {w}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn reflect_pad_matches_torch_including_short_inputs() {
        let x = Tensor::new(&[[[1f32, 2., 3.]]], &candle_core::Device::Cpu).unwrap();
        // torch: F.pad(x, (2, 1), mode='reflect') = [3, 2, 1, 2, 3, 2]
        let y = reflect_pad(&x, 2, 2, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(y, [3., 2., 1., 2., 3., 2.]);
        // encodec pad1d with len <= max pad: x=[1,2,3], pads (6, 1): zero-extend to
        // [1,2,3,0,0,0,0], reflect to [0,0,0,0,3,2, 1,2,3,0,0,0,0, 0], crop the 4 zeros added.
        let y = reflect_pad(&x, 2, 6, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(y, [0., 0., 0., 0., 3., 2., 1., 2., 3., 0.]);
    }
}

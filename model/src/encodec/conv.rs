//! EnCodec's `SConv1d`: a weight-normed Conv1d with causal reflect padding (encodec
//! `modules/conv.py`). Weight norm is folded into a plain kernel at load time.

use candle_core::{D, Tensor};

use super::names::EncodecWeights;
use crate::error::Result;

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
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize, stride: usize, dilation: usize) -> Self {
        Self { in_channels, out_channels, kernel, stride, dilation }
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
        let (k, s, p) = (self.effective_kernel() as i64, self.stride as i64, self.padding_total() as i64);
        let n_frames = (len as i64 - k + p) as f64 / s as f64 + 1.0;
        let ideal = (n_frames.ceil() as i64 - 1) * s + (k - p);
        (ideal - len as i64).max(0) as usize
    }
}

/// A conv layer with its folded kernel `(out, in, k)` and bias `(out,)`.
pub struct WeightNormConv1d {
    pub spec: ConvSpec,
    pub weight: Tensor,
    pub bias: Tensor,
}

impl WeightNormConv1d {
    /// Loads `{name}.conv.conv.{weight_g, weight_v, bias}` and folds `w = g * v / ||v||`, the norm
    /// taken per output channel over (in, k), without epsilon (torch `weight_norm`, dim 0).
    pub fn load(weights: &EncodecWeights, name: &str, spec: ConvSpec) -> Result<Self> {
        let ConvSpec { in_channels, out_channels, kernel, .. } = spec;
        let g = weights.tensor(&format!("{name}.conv.conv.weight_g"), &[out_channels, 1, 1])?;
        let v = weights.tensor(&format!("{name}.conv.conv.weight_v"), &[out_channels, in_channels, kernel])?;
        let bias = weights.tensor(&format!("{name}.conv.conv.bias"), &[out_channels])?;
        let norm = v.sqr()?.sum_keepdim(D::Minus1)?.sum_keepdim(1)?.sqrt()?;
        let weight = v.broadcast_mul(&g.broadcast_div(&norm)?)?.contiguous()?;
        Ok(Self { spec, weight, bias })
    }

    /// Offline forward of `x` `(1, in, L)`: causal reflect padding, then the convolution.
    /// Output length is `ceil(L / stride)` for the strided layers and `L` otherwise.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let len = x.dim(D::Minus1)?;
        let padded = reflect_pad(x, self.spec.padding_total(), self.spec.extra_padding(len))?;
        let y = padded.conv1d(&self.weight, 0, self.spec.stride, self.spec.dilation, 1)?;
        Ok(y.broadcast_add(&self.bias.reshape((1, self.spec.out_channels, 1))?)?)
    }
}

/// encodec `pad1d(x, (left, right), mode='reflect')` on the last dimension, including its
/// handling of inputs not longer than the padding: zero-extend the right end first so the
/// reflection is defined, then crop those zeros off the reflected result.
pub fn reflect_pad(x: &Tensor, left: usize, right: usize) -> Result<Tensor> {
    if left == 0 && right == 0 {
        return Ok(x.clone());
    }
    let len = x.dim(D::Minus1)?;
    let max_pad = left.max(right);
    let extra_zeros = if len <= max_pad { max_pad - len + 1 } else { 0 };
    let indices = reflect_indices(len + extra_zeros, left, right);
    let source = if extra_zeros > 0 { x.pad_with_zeros(D::Minus1, 0, extra_zeros)? } else { x.clone() };
    let index = Tensor::from_vec(
        indices.iter().map(|&i| i as u32).collect::<Vec<_>>(),
        indices.len(),
        x.device(),
    )?;
    let padded = source.index_select(&index, x.rank() - 1)?;
    let keep = padded.dim(D::Minus1)? - extra_zeros;
    Ok(padded.narrow(D::Minus1, 0, keep)?)
}

/// Source index of every sample of a reflect-padded sequence of length `len` (`left < len`,
/// `right < len`): `left..1` reflected, the sequence, then `len-2..` reflected.
pub fn reflect_indices(len: usize, left: usize, right: usize) -> Vec<usize> {
    (0..left)
        .map(|i| left - i)
        .chain(0..len)
        .chain((0..right).map(|i| len - 2 - i))
        .collect()
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

    #[test]
    fn reflect_pad_matches_torch_including_short_inputs() {
        let x = Tensor::new(&[[[1f32, 2., 3.]]], &candle_core::Device::Cpu).unwrap();
        // torch: F.pad(x, (2, 1), mode='reflect') = [3, 2, 1, 2, 3, 2]
        let y = reflect_pad(&x, 2, 1).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(y, [3., 2., 1., 2., 3., 2.]);
        // encodec pad1d with len <= max pad: x=[1,2,3], pads (6, 1): zero-extend to
        // [1,2,3,0,0,0,0], reflect to [0,0,0,0,3,2, 1,2,3,0,0,0,0, 0], crop the 4 zeros added.
        let y = reflect_pad(&x, 6, 1).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(y, [0., 0., 0., 0., 3., 2., 1., 2., 3., 0.]);
    }
}

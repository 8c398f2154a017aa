//! EnCodec's `SConv1d`: a weight-normed Conv1d with causal reflect padding (encodec
//! `modules/conv.py`). Weight norm is folded into a plain kernel at load time.

use std::sync::Arc;

use candle_core::{D, DType};

use super::names::EncodecWeights;
use crate::error::Result;
use crate::kernels::{Panels, RowLayout};
use crate::streaming::{Rows, StreamingModule};

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

/// A conv layer with its folded kernel and bias, run on time-major signals `(L, channels)`
/// (one row per time step).
///
/// Time-major because every conv then is one matrix product `windows @ taps` whose windows are
/// contiguous: for stride 1 the window of output `t` is rows `t..t+k` of the padded input, and
/// for stride `s` it starts `s` rows further per output, so [`Panels`] reads the windows in
/// place. candle's own conv1d (im2col) gathers element by element and transposes its output,
/// several times slower here.
pub struct WeightNormConv1d {
    pub spec: ConvSpec,
    /// The folded kernel as `(out, k * in)` with tap-major columns, packed with the bias.
    panels: Panels,
    /// Whether products are summed in f64.
    f64_sums: bool,
}

impl WeightNormConv1d {
    /// Loads `{name}.conv.conv.{weight_g, weight_v, bias}` and folds `w = g * v / ||v||`, the norm
    /// taken per output channel over (in, k), without epsilon (torch `weight_norm`, dim 0). The
    /// fold runs in f64 and is rounded once to f32. Sums run in f64 when `f64_sums` (layers
    /// whose output cancels heavily, see [`super::seanet`]).
    pub fn load(
        weights: &EncodecWeights,
        name: &str,
        spec: ConvSpec,
        f64_sums: bool,
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
        let taps = weight.permute((0, 2, 1))?.flatten_all()?.to_vec1::<f32>()?;
        let panels = Panels::new(&taps, &bias.to_vec1::<f32>()?, kernel * in_channels);
        Ok(Self {
            spec,
            panels,
            f64_sums,
        })
    }

    /// The number of outputs of a padded signal of `len` rows (`len >= k_eff`).
    pub fn outputs(&self, len: usize) -> usize {
        (len - self.spec.effective_kernel()) / self.spec.stride + 1
    }

    /// The convolution of `channels` padded signals of `len >= k_eff` rows each, channel-major
    /// `(N, L, in)`: every complete window, `(N, outputs(L), out)`, reading the weights once for
    /// all channels.
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

/// The streaming form of a [`WeightNormConv1d`] with the reference's causal reflect padding
/// (encodec `SConv1d`): `padding_total` rows on the left, the reflection of the signal's first
/// rows, and on the right the `extra_padding` that completes the last window, reflecting its
/// last rows.
///
/// At the stream start the reflection needs `padding_total + 1` rows: until then the conv
/// holds its input; after that it is an ordinary causal conv, each output final as soon as its
/// last input row is. [`StreamingModule::flush`] adds the right padding of the whole signal
/// (and, for a signal not longer than the padding, encodec's zero-extended reflection).
pub struct ConvStream {
    conv: Arc<WeightNormConv1d>,
    /// Before the start the raw input rows, after it the padded input from the first window
    /// still to compute.
    pending: Rows,
    started: bool,
    /// Input rows received since the stream start (per channel).
    seen: usize,
}

impl ConvStream {
    pub fn new(conv: Arc<WeightNormConv1d>, channels: usize) -> Self {
        Self {
            pending: Rows::empty(channels, conv.spec.in_channels),
            conv,
            started: false,
            seen: 0,
        }
    }

    /// Convolves every complete window of the pending input into `out`.
    fn convolve_pending(&mut self, out: &mut Rows) {
        let spec = &self.conv.spec;
        if self.pending.len() < spec.effective_kernel() {
            return;
        }
        let (channels, len) = (self.pending.channels(), self.pending.len());
        let outputs = self.conv.outputs(len);
        let y = self
            .conv
            .convolve_channels(self.pending.data(), channels, len);
        out.append(&Rows::new(y, channels, spec.out_channels, Vec::new()));
        self.pending.drop_front(outputs * spec.stride);
    }
}

impl StreamingModule for ConvStream {
    fn step(&mut self, x: &Rows, out: &mut Rows) -> Result<()> {
        self.pending.append(x);
        self.seen += x.len();
        if !self.started {
            let pad = self.conv.spec.padding_total();
            if self.pending.len() <= pad {
                return Ok(());
            }
            self.pending.reflect_left(pad);
            self.started = true;
        }
        self.convolve_pending(out);
        Ok(())
    }

    fn flush(&mut self, out: &mut Rows) -> Result<()> {
        let spec = self.conv.spec;
        let extra = spec.extra_padding(self.seen);
        if self.started {
            self.pending.reflect_right(extra);
        } else if self.seen > 0 {
            let channels = self.pending.channels();
            let data = (0..channels)
                .flat_map(|n| {
                    reflect_pad(
                        self.pending.channel(n),
                        spec.in_channels,
                        spec.padding_total(),
                        extra,
                    )
                })
                .collect();
            self.pending = Rows::new(data, channels, spec.in_channels, Vec::new());
            self.started = true;
        }
        self.convolve_pending(out);
        Ok(())
    }

    fn reset(&mut self) {
        self.pending.clear();
        self.started = false;
        self.seen = 0;
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

/// encodec `pad1d(x, (left, right), mode='reflect')` of a time-major signal of rows of `width`
/// values, including its handling of inputs not longer than the padding: zero-extend the far
/// end first so the reflection is defined, then crop those zeros off the reflected result.
pub fn reflect_pad(x: &[f32], width: usize, left: usize, right: usize) -> Vec<f32> {
    let len = x.len() / width;
    let max_pad = left.max(right);
    let extra_zeros = if len <= max_pad { max_pad - len + 1 } else { 0 };
    let extended = len + extra_zeros;
    let mut source = x.to_vec();
    source.resize(extended * width, 0.0);
    let row = |r: usize| &source[r * width..(r + 1) * width];
    let mut padded = Vec::with_capacity((left + extended + right) * width);
    for r in (1..=left).rev() {
        padded.extend_from_slice(row(r));
    }
    padded.extend_from_slice(&source);
    for i in 0..right {
        padded.extend_from_slice(row(extended - 2 - i));
    }
    padded.truncate((left + extended + right - extra_zeros) * width);
    padded
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Tensor;

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

    /// Direct evaluation of the definition: the kernel `w = g v / ||v||` (norm per output
    /// channel), the input padded with the reference's rule, then
    /// `y[t, o] = b[o] + sum_{c, i} w[o, c, i] * x[i * d + t * s, c]`.
    fn naive_conv(x: &[f32], g: &Tensor, v: &Tensor, b: &Tensor, spec: &ConvSpec) -> Vec<f32> {
        let cin = spec.in_channels;
        let len = x.len() / cin;
        let p = reflect_pad(x, cin, spec.padding_total(), spec.extra_padding(len));
        let g = g.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let w: Vec<Vec<Vec<f64>>> = v
            .to_vec3::<f32>()
            .unwrap()
            .into_iter()
            .zip(&g)
            .map(|(v, &g)| {
                let norm = v
                    .iter()
                    .flatten()
                    .map(|&x| f64::from(x).powi(2))
                    .sum::<f64>();
                let scale = f64::from(g) / norm.sqrt();
                v.iter()
                    .map(|taps| taps.iter().map(|&x| f64::from(x) * scale).collect())
                    .collect()
            })
            .collect();
        let b = b.to_vec1::<f32>().unwrap();
        let frames = (p.len() / cin - spec.effective_kernel()) / spec.stride + 1;
        let mut y = Vec::new();
        for t in 0..frames {
            for o in 0..spec.out_channels {
                let mut acc = f64::from(b[o]);
                for (c, taps) in w[o].iter().enumerate() {
                    for (i, &wv) in taps.iter().enumerate() {
                        let row = i * spec.dilation + t * spec.stride;
                        acc += wv * f64::from(p[row * cin + c]);
                    }
                }
                y.push(acc as f32);
            }
        }
        y
    }

    /// The stream given the whole signal and flushed (the offline form), and the same signal
    /// in pieces of every size, equal the definition for every kind of conv, including
    /// signals shorter than the padding.
    #[test]
    fn stream_equals_the_definition_for_every_kind_of_conv_and_chunking() {
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
            let g = Tensor::rand(0.5f32, 1.5, (cout, 1, 1), &dev).unwrap();
            let v = Tensor::randn(0f32, 1.0, (cout, cin, k), &dev).unwrap();
            let b = Tensor::randn(0f32, 1.0, cout, &dev).unwrap();
            let tensors = HashMap::from([
                ("c.conv.conv.weight_g".to_string(), g.clone()),
                ("c.conv.conv.weight_v".to_string(), v.clone()),
                ("c.conv.conv.bias".to_string(), b.clone()),
            ]);
            let checkpoint = Checkpoint::from_tensors(std::path::Path::new("mem"), tensors);
            let weights = EncodecWeights {
                checkpoint: &checkpoint,
                layout: Layout::Original,
                prefix: String::new(),
            };
            for f64_sums in [false, true] {
                let conv = Arc::new(WeightNormConv1d::load(&weights, "c", spec, f64_sums).unwrap());
                for len in [1usize, 2, 5, 9, 16, 23] {
                    let x: Vec<f32> = (0..len * cin)
                        .map(|i| ((i / cin * 7 + i % cin * 3) as f32 * 0.37).sin())
                        .collect();
                    let want = naive_conv(&x, &g, &v, &b, &spec);
                    assert_eq!(want.len(), len.div_ceil(s) * cout, "{spec:?} len {len}");
                    let mut stream = ConvStream::new(conv.clone(), 1);
                    for chunk in [len, 1, 3] {
                        stream.reset();
                        let mut got = Rows::empty(1, cout);
                        for piece in x.chunks(chunk * cin) {
                            let piece = Rows::new(piece.to_vec(), 1, cin, Vec::new());
                            stream.step(&piece, &mut got).unwrap();
                        }
                        stream.flush(&mut got).unwrap();
                        assert_eq!(got.data().len(), want.len(), "{spec:?} len {len}");
                        for (g, w) in got.data().iter().zip(&want) {
                            assert!(
                                (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
                                "{spec:?} len {len} chunk {chunk}: {g} vs {w}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn reflect_pad_matches_torch_including_short_inputs() {
        let x = [1f32, 2., 3.];
        // torch: F.pad(x, (2, 1), mode='reflect') = [3, 2, 1, 2, 3, 2]
        assert_eq!(reflect_pad(&x, 1, 2, 1), [3., 2., 1., 2., 3., 2.]);
        // encodec pad1d with len <= max pad: x=[1,2,3], pads (6, 1): zero-extend to
        // [1,2,3,0,0,0,0], reflect to [0,0,0,0,3,2, 1,2,3,0,0,0,0, 0], crop the 4 zeros added.
        assert_eq!(
            reflect_pad(&x, 1, 6, 1),
            [0., 0., 0., 0., 3., 2., 1., 2., 3., 0.]
        );
    }
}

//! EnCodec's `SLSTM`: a multi-layer `nn.LSTM` over time with a skip, `y = LSTM(x) + x`.
//! PyTorch gate order i, f, g, o; both biases; zero initial state.
//!
//! The input projection of each layer is one matrix product over all frames; only the recurrent
//! part runs frame by frame, on plain slices. Each step is split over two threads by hidden unit
//! (`rayon::join`): a thread computes the four gate rows of its units (`W_hh h`, a quarter of
//! the 4 MB `W_hh` each at 24 kHz, streamed from L3) and then their cell update, reading the
//! previous hidden vector and writing the next one (double-buffered). A candle matmul of one
//! row per step would repack all of `W_hh` every step and leave the cell update on one core.

use candle_core::{Device, Tensor};

use super::names::EncodecWeights;
use crate::error::Result;
use crate::kernels::{FEW_ROWS, dot, few_rows};

struct LstmLayer {
    /// `(C, 4H)`: `W_ih` transposed, so `x @ w_ih_t` gives the input part of all gates.
    w_ih_t: Tensor,
    /// `b_ih` `(4H,)`.
    b_ih: Tensor,
    /// `W_ih` `(4H, C)` row-major and `b_ih`, for [`few_rows`] when streaming a few frames.
    w_ih: Vec<f32>,
    b_ih_vec: Vec<f32>,
    /// `W_hh` `(4H, H)` row-major: row `r` gives gate pre-activation `r` from `h`.
    w_hh: Vec<f32>,
    /// `b_hh` `(4H,)`.
    b_hh: Vec<f32>,
}

pub struct Lstm {
    layers: Vec<LstmLayer>,
    width: usize,
}

/// The recurrent state of every layer: hidden and cell vectors.
#[derive(Clone)]
pub struct LstmState {
    pub h: Vec<Vec<f32>>,
    pub c: Vec<Vec<f32>>,
}

impl Lstm {
    /// Loads `{name}.lstm.{weight_ih,weight_hh,bias_ih,bias_hh}_l{k}`; input width = hidden width.
    pub fn load(
        weights: &EncodecWeights,
        name: &str,
        width: usize,
        num_layers: usize,
    ) -> Result<Self> {
        let layers = (0..num_layers)
            .map(|k| {
                let tensor = |what: &str, shape: &[usize]| {
                    weights.tensor(&format!("{name}.lstm.{what}_l{k}"), shape)
                };
                let vector = |t: Tensor| t.flatten_all()?.to_vec1::<f32>();
                LstmLayer::new(
                    width,
                    vector(tensor("weight_ih", &[4 * width, width])?)?,
                    vector(tensor("weight_hh", &[4 * width, width])?)?,
                    vector(tensor("bias_ih", &[4 * width])?)?,
                    vector(tensor("bias_hh", &[4 * width])?)?,
                )
            })
            .collect::<Result<_>>()?;
        Ok(Self { layers, width })
    }

    pub fn initial_state(&self) -> LstmState {
        let zeros = vec![vec![0.0; self.width]; self.layers.len()];
        LstmState {
            h: zeros.clone(),
            c: zeros,
        }
    }

    /// Runs frames `x` `(T, C)` from `state`, returning `LSTM(x) + x` `(T, C)` and updating
    /// `state`. Gate pre-activations are `(x W_ih^T + b_ih) + (h W_hh^T + b_hh)` as in PyTorch.
    pub fn forward(&self, x: &Tensor, state: &mut LstmState) -> Result<Tensor> {
        let frames = x.dim(0)?;
        let width = self.width;
        let split = width / 2;
        let mut input = x.clone();
        for (k, layer) in self.layers.iter().enumerate() {
            let gates_x = if frames <= FEW_ROWS {
                let x = input.flatten_all()?.to_vec1::<f32>()?;
                few_rows(&x, &layer.w_ih, &layer.b_ih_vec, width, false)
            } else {
                input
                    .matmul(&layer.w_ih_t)?
                    .broadcast_add(&layer.b_ih)?
                    .flatten_all()?
                    .to_vec1::<f32>()?
            };
            let mut h = state.h[k].clone();
            let mut h_next = vec![0f32; width];
            let c = &mut state.c[k];
            let mut out = Vec::with_capacity(frames * width);
            // Run the recurrence on a rayon worker so that each step's join is cheap.
            rayon::scope(|_| {
                for gx in gates_x.chunks_exact(4 * width) {
                    let (h_low, h_high) = h_next.split_at_mut(split);
                    let (c_low, c_high) = c.split_at_mut(split);
                    rayon::join(
                        || layer.step(gx, &h, 0, h_low, c_low),
                        || layer.step(gx, &h, split, h_high, c_high),
                    );
                    std::mem::swap(&mut h, &mut h_next);
                    out.extend_from_slice(&h);
                }
            });
            state.h[k] = h;
            input = Tensor::from_vec(out, (frames, width), &Device::Cpu)?;
        }
        Ok((input + x)?)
    }
}

impl LstmLayer {
    /// A layer of width `H` from PyTorch's `W_ih`, `W_hh` `(4H, H)` and biases `(4H,)`.
    fn new(
        width: usize,
        w_ih: Vec<f32>,
        w_hh: Vec<f32>,
        b_ih: Vec<f32>,
        b_hh: Vec<f32>,
    ) -> Result<Self> {
        let w_ih_t = Tensor::from_slice(&w_ih, (4 * width, width), &Device::Cpu)?
            .t()?
            .contiguous()?;
        Ok(Self {
            w_ih_t,
            b_ih: Tensor::from_slice(&b_ih, 4 * width, &Device::Cpu)?,
            w_ih,
            b_ih_vec: b_ih,
            w_hh,
            b_hh,
        })
    }

    /// One step for hidden units `first..first + h_next.len()`: their four gates from the input
    /// part `gates_x` (`4H`) and the previous hidden vector `h`, then the cell update of `c` (those
    /// units' cells) and their new hidden values into `h_next`.
    fn step(&self, gates_x: &[f32], h: &[f32], first: usize, h_next: &mut [f32], c: &mut [f32]) {
        step_units(&self.w_hh, &self.b_hh, gates_x, h, first, h_next, c);
    }
}

/// [`LstmLayer::step`] on the layer's recurrent weights `w_hh` `(4H, H)` and bias `b_hh`;
/// compiled for the widest vector unit the CPU has.
#[multiversion::multiversion(targets("x86_64+avx512f+avx2+fma", "x86_64+avx2+fma"))]
fn step_units(
    w_hh: &[f32],
    b_hh: &[f32],
    gates_x: &[f32],
    h: &[f32],
    first: usize,
    h_next: &mut [f32],
    c: &mut [f32],
) {
    const BLOCK: usize = 64;
    let width = h.len();
    for (b, (h_block, c_block)) in h_next
        .chunks_mut(BLOCK)
        .zip(c.chunks_mut(BLOCK))
        .enumerate()
    {
        let start = first + b * BLOCK;
        let units = h_block.len();
        // Pre-activations of the four gates of these units: four contiguous blocks of rows.
        let mut pre = [[0f32; BLOCK]; 4];
        for (g, pre_g) in pre.iter_mut().enumerate() {
            let rows = g * width + start..g * width + start + units;
            let weights = &w_hh[rows.start * width..rows.end * width];
            for ((p, w_row), row) in pre_g.iter_mut().zip(weights.chunks_exact(width)).zip(rows) {
                *p = gates_x[row] + (dot(w_row, h) + b_hh[row]);
            }
        }
        for (j, (h_out, c_j)) in h_block.iter_mut().zip(c_block.iter_mut()).enumerate() {
            let i = sigmoid(pre[0][j]);
            let f = sigmoid(pre[1][j]);
            let g = pre[2][j].tanh();
            let o = sigmoid(pre[3][j]);
            *c_j = f * *c_j + i * g;
            *h_out = o * c_j.tanh();
        }
    }
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_f64_for_odd_lengths() {
        for len in [1, 15, 16, 17, 33, 512] {
            let a: Vec<f32> = (0..len)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                .collect();
            let b: Vec<f32> = (0..len)
                .map(|i| ((i * 13 % 29) as f32 - 14.0) / 7.0)
                .collect();
            let exact: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| f64::from(*x) * f64::from(*y))
                .sum();
            assert!(
                (f64::from(dot(&a, &b)) - exact).abs() < 1e-5 * (1.0 + exact.abs()),
                "{len}"
            );
        }
    }

    /// A 1-layer LSTM of width 3 stepped by hand in f64 (PyTorch equations, gate order i, f, g,
    /// o), against `Lstm::forward` (odd width: the two halves differ in size).
    #[test]
    fn forward_matches_pytorch_equations() {
        let width = 3;
        let value = |i: usize| ((i * 29 % 23) as f32 - 11.0) / 15.0;
        let w_ih: Vec<f32> = (0..4 * width * width).map(value).collect();
        let w_hh: Vec<f32> = (0..4 * width * width).map(|i| value(i + 7)).collect();
        let b_ih: Vec<f32> = (0..4 * width).map(|i| value(i + 3)).collect();
        let b_hh: Vec<f32> = (0..4 * width).map(|i| value(i + 5)).collect();
        let dev = Device::Cpu;
        let layer = LstmLayer::new(
            width,
            w_ih.clone(),
            w_hh.clone(),
            b_ih.clone(),
            b_hh.clone(),
        )
        .unwrap();
        let lstm = Lstm {
            layers: vec![layer],
            width,
        };
        let frames = 5;
        let x: Vec<f32> = (0..frames * width).map(|i| value(i + 11) * 2.0).collect();
        let mut state = lstm.initial_state();
        let y = lstm
            .forward(
                &Tensor::from_vec(x.clone(), (frames, width), &dev).unwrap(),
                &mut state,
            )
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        let (mut h, mut c) = (vec![0f64; width], vec![0f64; width]);
        for t in 0..frames {
            let pre = |r: usize, h: &[f64]| {
                let xi: f64 = (0..width)
                    .map(|j| f64::from(w_ih[r * width + j]) * f64::from(x[t * width + j]))
                    .sum();
                let hh: f64 = (0..width)
                    .map(|j| f64::from(w_hh[r * width + j]) * h[j])
                    .sum();
                xi + f64::from(b_ih[r]) + hh + f64::from(b_hh[r])
            };
            let previous = h.clone();
            for j in 0..width {
                let (i, f) = (sig(pre(j, &previous)), sig(pre(width + j, &previous)));
                let (g, o) = (
                    pre(2 * width + j, &previous).tanh(),
                    sig(pre(3 * width + j, &previous)),
                );
                c[j] = f * c[j] + i * g;
                h[j] = o * c[j].tanh();
                let expected = h[j] + f64::from(x[t * width + j]);
                assert!(
                    (f64::from(y[t][j]) - expected).abs() < 1e-5,
                    "frame {t} unit {j}"
                );
            }
        }
        for j in 0..width {
            assert!((f64::from(state.h[0][j]) - h[j]).abs() < 1e-5);
            assert!((f64::from(state.c[0][j]) - c[j]).abs() < 1e-5);
        }
    }
}

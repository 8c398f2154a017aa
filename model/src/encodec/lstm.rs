//! EnCodec's `SLSTM`: a multi-layer `nn.LSTM` over time with a skip, `y = LSTM(x) + x`.
//! PyTorch gate order i, f, g, o; both biases; zero initial state.
//!
//! The input projection of each layer is one matrix product over all frames; only the recurrent
//! part runs frame by frame. Several independent sequences (the channels of a stream) run
//! together: each step is one product of their hidden vectors with the packed `W_hh` (4 MB per
//! layer at 24 kHz, so reading it once per step for every channel is what batching saves),
//! then each channel's cell update.

use std::sync::Arc;

use candle_core::{Device, Tensor};

use super::names::EncodecWeights;
use crate::error::Result;
use crate::kernels::{Dense, Panels};
use crate::streaming::{Rows, StreamingModule};

struct LstmLayer {
    /// `W_ih` `(4H, C)` and `b_ih`: the input part of all gates, over all frames at once.
    w_ih: Dense,
    /// `W_hh` `(4H, H)` and `b_hh` packed: the recurrent part of the gate pre-activations.
    w_hh: Panels,
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
    pub fn forward_channels(
        &self,
        x: &[f32],
        frames: usize,
        states: &mut [LstmState],
    ) -> Result<Vec<f32>> {
        let (channels, width) = (states.len(), self.width);
        let rows = channels * frames;
        assert_eq!(x.len(), rows * width, "one state per sequence");
        let gate_width = 4 * width;
        let mut input = x.to_vec();
        let mut h = vec![0f32; channels * width];
        for (k, layer) in self.layers.iter().enumerate() {
            let gates_x = layer.w_ih.forward(&input);
            for (h, state) in h.chunks_exact_mut(width).zip(states.iter()) {
                h.copy_from_slice(&state.h[k]);
            }
            for t in 0..frames {
                let gates_h = layer.w_hh.forward(&h, false);
                for (n, state) in states.iter_mut().enumerate() {
                    let row = n * frames + t;
                    let h = &mut h[n * width..(n + 1) * width];
                    cell_update(
                        &gates_x[row * gate_width..(row + 1) * gate_width],
                        &gates_h[n * gate_width..(n + 1) * gate_width],
                        &mut state.c[k],
                        h,
                    );
                    input[row * width..(row + 1) * width].copy_from_slice(h);
                }
            }
            for (h, state) in h.chunks_exact(width).zip(states.iter_mut()) {
                state.h[k].copy_from_slice(h);
            }
        }
        for (y, x) in input.iter_mut().zip(x) {
            *y += x;
        }
        Ok(input)
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
        Ok(Self {
            w_ih: Dense::new(
                &Tensor::from_slice(&w_ih, (4 * width, width), &Device::Cpu)?,
                &Tensor::from_slice(&b_ih, 4 * width, &Device::Cpu)?,
            )?,
            w_hh: Panels::new(&w_hh, &b_hh, width),
        })
    }
}

/// One step of one sequence: the gate pre-activations `gates_x + gates_h` (`4H`, order i, f, g,
/// o) update the cell `c` and give the new hidden vector `h`.
/// The streaming form of an [`Lstm`]: the recurrent state of every channel beside the shared
/// weights. Frame by frame, so any chunking gives the same output; no padding, so the flush
/// adds nothing.
pub struct LstmStream {
    lstm: Arc<Lstm>,
    /// Per channel.
    states: Vec<LstmState>,
}

impl LstmStream {
    pub fn new(lstm: Arc<Lstm>, channels: usize) -> Self {
        Self {
            states: vec![lstm.initial_state(); channels],
            lstm,
        }
    }
}

impl StreamingModule for LstmStream {
    fn step(&mut self, x: &Rows, out: &mut Rows) -> Result<()> {
        if x.is_empty() {
            return Ok(());
        }
        let y = self
            .lstm
            .forward_channels(x.data(), x.len(), &mut self.states)?;
        out.append(&Rows::new(y, x.channels(), x.width(), Vec::new()));
        Ok(())
    }

    fn flush(&mut self, _out: &mut Rows) -> Result<()> {
        Ok(())
    }

    fn reset(&mut self) {
        for state in &mut self.states {
            state
                .h
                .iter_mut()
                .chain(&mut state.c)
                .for_each(|v| v.fill(0.0));
        }
    }
}

fn cell_update(gates_x: &[f32], gates_h: &[f32], c: &mut [f32], h: &mut [f32]) {
    let width = c.len();
    let pre = |gate: usize, j: usize| gates_x[gate * width + j] + gates_h[gate * width + j];
    for (j, (c, h)) in c.iter_mut().zip(h.iter_mut()).enumerate() {
        let i = sigmoid(pre(0, j));
        let f = sigmoid(pre(1, j));
        let g = pre(2, j).tanh();
        let o = sigmoid(pre(3, j));
        *c = f * *c + i * g;
        *h = o * c.tanh();
    }
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut states = [lstm.initial_state()];
        let y: Vec<Vec<f32>> = lstm
            .forward_channels(&x, frames, &mut states)
            .unwrap()
            .chunks(width)
            .map(<[f32]>::to_vec)
            .collect();
        let state = &states[0];
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

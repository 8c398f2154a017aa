//! EnCodec's `SLSTM`: a multi-layer `nn.LSTM` over time with a skip, `y = LSTM(x) + x`.
//! PyTorch gate order i, f, g, o; both biases; zero initial state.

use candle_core::{Device, Tensor};

use super::names::EncodecWeights;
use crate::error::Result;

struct LstmLayer {
    /// `(C, 4H)`: `W_ih` transposed, so `x @ w_ih_t` gives the input part of all gates.
    w_ih_t: Tensor,
    /// `(C, 4H)`: `W_hh` transposed.
    w_hh_t: Tensor,
    /// `b_ih + b_hh`, `(4H,)`.
    bias: Tensor,
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
    pub fn load(weights: &EncodecWeights, name: &str, width: usize, num_layers: usize) -> Result<Self> {
        let layers = (0..num_layers)
            .map(|k| {
                let tensor = |what: &str, shape: &[usize]| weights.tensor(&format!("{name}.lstm.{what}_l{k}"), shape);
                let w_ih = tensor("weight_ih", &[4 * width, width])?;
                let w_hh = tensor("weight_hh", &[4 * width, width])?;
                let bias = (tensor("bias_ih", &[4 * width])? + tensor("bias_hh", &[4 * width])?)?;
                Ok(LstmLayer { w_ih_t: w_ih.t()?.contiguous()?, w_hh_t: w_hh.t()?.contiguous()?, bias })
            })
            .collect::<Result<_>>()?;
        Ok(Self { layers, width })
    }

    pub fn initial_state(&self) -> LstmState {
        let zeros = vec![vec![0.0; self.width]; self.layers.len()];
        LstmState { h: zeros.clone(), c: zeros }
    }

    /// Runs frames `x` `(T, C)` from `state`, returning `LSTM(x) + x` `(T, C)` and updating
    /// `state`. The input projection is one matrix product over all frames; only the recurrence
    /// runs frame by frame.
    pub fn forward(&self, x: &Tensor, state: &mut LstmState) -> Result<Tensor> {
        let frames = x.dim(0)?;
        let width = self.width;
        let mut input = x.clone();
        for (k, layer) in self.layers.iter().enumerate() {
            let gates_x = input.matmul(&layer.w_ih_t)?.broadcast_add(&layer.bias)?.to_vec2::<f32>()?;
            let mut out = Vec::with_capacity(frames * width);
            let (h, c) = (&mut state.h[k], &mut state.c[k]);
            for gx in &gates_x {
                let h_row = Tensor::from_slice(h, (1, width), &Device::Cpu)?;
                let gates_h = h_row.matmul(&layer.w_hh_t)?.flatten_all()?.to_vec1::<f32>()?;
                lstm_cell(gx, &gates_h, h, c);
                out.extend_from_slice(h);
            }
            input = Tensor::from_vec(out, (frames, width), &Device::Cpu)?;
        }
        Ok((input + x)?)
    }
}

/// One LSTM step given the pre-activations from the input and from the previous hidden state.
fn lstm_cell(gates_x: &[f32], gates_h: &[f32], h: &mut [f32], c: &mut [f32]) {
    let width = h.len();
    for j in 0..width {
        let gate = |g: usize| gates_x[g * width + j] + gates_h[g * width + j];
        let i = sigmoid(gate(0));
        let f = sigmoid(gate(1));
        let g = gate(2).tanh();
        let o = sigmoid(gate(3));
        c[j] = f * c[j] + i * g;
        h[j] = o * c[j].tanh();
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

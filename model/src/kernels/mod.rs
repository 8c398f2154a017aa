//! Hand-written kernels for streaming small batches, compiled for the widest vector unit the
//! CPU has (runtime dispatch; the crate itself targets baseline x86-64 so the plugin runs
//! anywhere).

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod panels;

pub use panels::{Panels, RowLayout};

/// Up to this many rows per call, matrix products go through [`Panels`] instead of candle's
/// gemm, which packs the whole right-hand matrix on every call (16 MB for the last strided conv
/// at 24 kHz, 4 MB per LSTM layer): that packing dominates when streaming a few frames at a
/// time, while the weights here are packed once at load time. Longer products (offline) use
/// gemm, which also spreads them over the cores.
pub const FEW_ROWS: usize = 4096;

/// A dense layer `y = x W^T + b` on time-major rows, kept in two forms of the same weights:
/// [`Panels`] for a few rows per call (a stream's step) and a transposed tensor for candle's gemm
/// for long batches (a whole clip given at once).
pub struct Dense {
    pub inputs: usize,
    pub outputs: usize,
    panels: Panels,
    /// `W^T` `(inputs, outputs)`.
    weight_t: candle_core::Tensor,
    bias_t: candle_core::Tensor,
}

impl Dense {
    /// From `W` `(outputs, inputs)` and `b` `(outputs,)`, f32.
    pub fn new(
        weight: &candle_core::Tensor,
        bias: &candle_core::Tensor,
    ) -> crate::error::Result<Self> {
        let (outputs, inputs) = weight.dims2()?;
        Ok(Self {
            inputs,
            outputs,
            panels: Panels::new(
                &weight.flatten_all()?.to_vec1::<f32>()?,
                &bias.to_vec1::<f32>()?,
                inputs,
            ),
            weight_t: weight.t()?.contiguous()?,
            bias_t: bias.clone(),
        })
    }

    /// `x` holds whole rows of `inputs` values; returns the rows of `outputs` values.
    pub fn forward(&self, x: &[f32]) -> crate::error::Result<Vec<f32>> {
        let frames = x.len() / self.inputs;
        if frames <= FEW_ROWS {
            return Ok(self.panels.forward(x, false));
        }
        let x =
            candle_core::Tensor::from_slice(x, (frames, self.inputs), &candle_core::Device::Cpu)?;
        Ok(x.matmul(&self.weight_t)?
            .broadcast_add(&self.bias_t)?
            .flatten_all()?
            .to_vec1::<f32>()?)
    }
}

//! Hand-written kernels for streaming small batches, compiled for the widest vector unit the
//! CPU has (runtime dispatch; the crate itself targets baseline x86-64 so the plugin runs
//! anywhere).

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod panels;

pub use panels::{Panels, RowLayout};

/// A dense layer `y = x W^T + b` on time-major rows, its weights packed once at load time
/// ([`Panels`]). Streams step a few rows at a time, too few for gemm, whose per-call packing of
/// the whole weight matrix then dominates; the offline forms step the same layers over chunks of
/// a clip, so every product runs here.
pub struct Dense {
    panels: Panels,
}

impl Dense {
    /// From `W` `(outputs, inputs)` and `b` `(outputs,)`, f32.
    pub fn new(
        weight: &candle_core::Tensor,
        bias: &candle_core::Tensor,
    ) -> crate::error::Result<Self> {
        let (_, inputs) = weight.dims2()?;
        Ok(Self {
            panels: Panels::new(
                &weight.flatten_all()?.to_vec1::<f32>()?,
                &bias.to_vec1::<f32>()?,
                inputs,
            ),
        })
    }

    /// `x` holds whole rows of `inputs` values; returns the rows of `outputs` values.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        self.panels.forward(x, false)
    }
}

//! Hand-written kernels for streaming small batches, compiled for the widest vector unit the
//! CPU has (runtime dispatch; the crate itself targets baseline x86-64 so the plugin runs
//! anywhere). Products and sums stay separate operations, so every CPU computes the same values.

/// Up to this many rows per call, matrix products go through [`few_rows`] instead of candle's
/// gemm, which packs the whole right-hand matrix on every call (16 MB for the last strided conv
/// at 24 kHz, 4 MB per LSTM layer): that packing dominates when streaming one frame at a time,
/// while `few_rows` reads each weight row once, straight from the loaded weights.
pub const FEW_ROWS: usize = 32;

/// `y[t, o] = bias[o] + windows[t, ..] . taps[o, ..]` for a few window rows: each kernel row
/// is read once and dotted with every window, four windows at a time (each weight load serves
/// four independent sums). Sums in f64 when `f64_sums` (f32 products are exact in f64, so this
/// equals the f64 matrix product), else in f32 with 16 partial sums per window.
#[multiversion::multiversion(targets("x86_64+avx512f+avx2+fma", "x86_64+avx2+fma"))]
pub fn few_rows(
    windows: &[f32],
    taps: &[f32],
    bias: &[f32],
    width: usize,
    f64_sums: bool,
) -> Vec<f32> {
    let frames = windows.len() / width;
    let outputs = bias.len();
    let mut y = vec![0f32; frames * outputs];
    let quads = frames / 4 * 4;
    for (o, (row, &b)) in taps.chunks_exact(width).zip(bias).enumerate() {
        if f64_sums {
            for (t, window) in windows.chunks_exact(width).enumerate() {
                y[t * outputs + o] = (f64::from(b) + dot_f64(row, window)) as f32;
            }
            continue;
        }
        for t in (0..quads).step_by(4) {
            let sums = dot4(row, &windows[t * width..(t + 4) * width]);
            for (k, sum) in sums.into_iter().enumerate() {
                y[(t + k) * outputs + o] = b + sum;
            }
        }
        for t in quads..frames {
            y[t * outputs + o] = b + dot(row, &windows[t * width..(t + 1) * width]);
        }
    }
    y
}

/// The dots of `row` with four consecutive windows of `row.len()` values each.
#[inline(always)]
fn dot4(row: &[f32], windows: &[f32]) -> [f32; 4] {
    const LANES: usize = 16;
    let width = row.len();
    let (x0, rest) = windows.split_at(width);
    let (x1, rest) = rest.split_at(width);
    let (x2, x3) = rest.split_at(width);
    let (mut a0, mut a1, mut a2, mut a3) =
        ([0f32; LANES], [0f32; LANES], [0f32; LANES], [0f32; LANES]);
    let body = width - width % LANES;
    for j in (0..body).step_by(LANES) {
        let w: &[f32; LANES] = row[j..j + LANES].try_into().unwrap();
        let v0: &[f32; LANES] = x0[j..j + LANES].try_into().unwrap();
        let v1: &[f32; LANES] = x1[j..j + LANES].try_into().unwrap();
        let v2: &[f32; LANES] = x2[j..j + LANES].try_into().unwrap();
        let v3: &[f32; LANES] = x3[j..j + LANES].try_into().unwrap();
        for l in 0..LANES {
            a0[l] += w[l] * v0[l];
            a1[l] += w[l] * v1[l];
            a2[l] += w[l] * v2[l];
            a3[l] += w[l] * v3[l];
        }
    }
    let tail = |x: &[f32]| -> f32 { row[body..].iter().zip(&x[body..]).map(|(w, x)| w * x).sum() };
    [
        a0.iter().sum::<f32>() + tail(x0),
        a1.iter().sum::<f32>() + tail(x1),
        a2.iter().sum::<f32>() + tail(x2),
        a3.iter().sum::<f32>() + tail(x3),
    ]
}

/// Dot product summed in f64, 8 partial sums.
#[inline(always)]
fn dot_f64(a: &[f32], b: &[f32]) -> f64 {
    const LANES: usize = 8;
    let mut acc = [0f64; LANES];
    let body = a.len() - a.len() % LANES;
    for (x, y) in a[..body]
        .chunks_exact(LANES)
        .zip(b[..body].chunks_exact(LANES))
    {
        for l in 0..LANES {
            acc[l] += f64::from(x[l]) * f64::from(y[l]);
        }
    }
    let tail: f64 = a[body..]
        .iter()
        .zip(&b[body..])
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum();
    acc.iter().sum::<f64>() + tail
}

/// Dot product with 16 independent partial sums, so it vectorises.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0f32; LANES];
    let (a_body, a_tail) = a.split_at(a.len() - a.len() % LANES);
    let (b_body, b_tail) = b.split_at(a_body.len());
    for (x, y) in a_body.chunks_exact(LANES).zip(b_body.chunks_exact(LANES)) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = a_tail.iter().zip(b_tail).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// A dense layer `y = x W^T + b` on time-major rows, kept in two forms: weight rows for
/// [`few_rows`] (a few frames per call, as when streaming) and a transposed tensor for candle's
/// gemm (long batches, as offline, computing exactly what the offline layers compute).
pub struct Dense {
    pub inputs: usize,
    pub outputs: usize,
    /// `W` `(outputs, inputs)` row-major.
    rows: Vec<f32>,
    bias: Vec<f32>,
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
            rows: weight.flatten_all()?.to_vec1::<f32>()?,
            bias: bias.to_vec1::<f32>()?,
            weight_t: weight.t()?.contiguous()?,
            bias_t: bias.clone(),
        })
    }

    /// `x` holds whole rows of `inputs` values; returns the rows of `outputs` values.
    pub fn forward(&self, x: &[f32]) -> crate::error::Result<Vec<f32>> {
        let frames = x.len() / self.inputs;
        if frames <= FEW_ROWS {
            return Ok(few_rows(x, &self.rows, &self.bias, self.inputs, false));
        }
        let x =
            candle_core::Tensor::from_slice(x, (frames, self.inputs), &candle_core::Device::Cpu)?;
        Ok(x.matmul(&self.weight_t)?
            .broadcast_add(&self.bias_t)?
            .flatten_all()?
            .to_vec1::<f32>()?)
    }
}

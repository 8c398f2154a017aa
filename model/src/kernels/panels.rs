//! Matrix products with a few rows against a weight matrix packed once at load time.
//!
//! Streaming runs every layer on a handful of rows (the frames of one step, times the
//! channels): too few for gemm, whose per-call packing of the whole weight matrix then
//! dominates, and too many for a dot product per output, which reloads each row of `x` for
//! every output. [`Panels`] stores `W` `(outputs, inputs)` as panels of [`PANEL`] outputs,
//! input-major inside a panel, so that one vector load gives one input's weights for
//! [`PANEL`] outputs: the kernels keep a tile of rows x outputs in registers and stream
//! each panel once per block of rows.

/// Outputs per panel: one 512-bit vector of f32.
pub const PANEL: usize = 16;

/// Where the rows of `x` start: row `r` is `inputs` values from [`Self::offset`]`(r)`. Rows
/// come in groups of equally spaced rows (one group per channel); rows may overlap, as the
/// windows of a stride-`s` convolution do (`row_stride = s * in`), so a convolution reads its
/// padded input in place instead of copying every window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowLayout {
    pub rows: usize,
    pub per_group: usize,
    pub group_stride: usize,
    pub row_stride: usize,
}

impl RowLayout {
    /// `rows` consecutive rows of `width` values.
    pub fn dense(rows: usize, width: usize) -> Self {
        Self {
            rows,
            per_group: rows.max(1),
            group_stride: 0,
            row_stride: width,
        }
    }

    #[inline(always)]
    pub fn offset(&self, row: usize) -> usize {
        row / self.per_group * self.group_stride + row % self.per_group * self.row_stride
    }

    /// Rows `r0..r0 + N` of `x`, `width` values each (one kernel tile).
    #[inline(always)]
    pub(super) fn tile<'a, T, const N: usize>(
        &self,
        x: &'a [T],
        r0: usize,
        width: usize,
    ) -> [&'a [T]; N] {
        std::array::from_fn(|m| &x[self.offset(r0 + m)..][..width])
    }

    /// One past the last value any row of `width` values reads: offsets grow along a group
    /// and from group to group, so the furthest row ends the last group or the last whole one.
    fn end(&self, width: usize) -> usize {
        let last = self.offset(self.rows - 1);
        let whole_groups = self.rows / self.per_group;
        let last_whole = match whole_groups {
            0 => 0,
            g => self.offset(g * self.per_group - 1),
        };
        last.max(last_whole) + width
    }
}

/// The weights of one input for the [`PANEL`] outputs of a panel, aligned for vector loads.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub struct Lane(pub [f32; PANEL]);

/// The kernel a [`Panels`] runs, chosen once when it is built: the widest vector unit the CPU
/// has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isa {
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
    Portable,
}

impl Isa {
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Isa::Avx2Fma;
            }
        }
        Isa::Portable
    }
}

/// `W` `(outputs, inputs)` and bias, packed for [`Panels::forward_rows`].
pub struct Panels {
    isa: Isa,
    inputs: usize,
    outputs: usize,
    /// Panel `p`, input `i` at `p * inputs + i`: lane `j` is `W[p * PANEL + j, i]`, zero past
    /// the last output.
    packed: Vec<Lane>,
    /// The bias, one lane per panel, zero past the last output.
    bias: Vec<Lane>,
}

impl Panels {
    /// Packs `weight` `(outputs, inputs)` row-major with its `bias` `(outputs,)`.
    pub fn new(weight: &[f32], bias: &[f32], inputs: usize) -> Self {
        let outputs = bias.len();
        assert_eq!(
            weight.len(),
            outputs * inputs,
            "weight is not (outputs, inputs)"
        );
        let panels = outputs.div_ceil(PANEL);
        let mut packed = vec![Lane([0.0; PANEL]); panels * inputs];
        let mut lanes = vec![Lane([0.0; PANEL]); panels];
        for (o, (row, &b)) in weight.chunks_exact(inputs).zip(bias).enumerate() {
            let (p, j) = (o / PANEL, o % PANEL);
            for (i, &w) in row.iter().enumerate() {
                packed[p * inputs + i].0[j] = w;
            }
            lanes[p].0[j] = b;
        }
        Self {
            isa: Isa::detect(),
            inputs,
            outputs,
            packed,
            bias: lanes,
        }
    }

    pub fn inputs(&self) -> usize {
        self.inputs
    }

    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// `y = x W^T + b` for `x` of whole rows of `inputs` values; `y` gets as many rows of
    /// `outputs` values. Sums in f64 if `f64_sums`, for layers whose output cancels heavily:
    /// the AVX-512 kernel adds f32 sums of 16 products in f64, the portable one sums every
    /// (exact) product in f64; both round to f32 once at the end.
    pub fn forward(&self, x: &[f32], f64_sums: bool) -> Vec<f32> {
        let rows = x.len() / self.inputs;
        assert_eq!(x.len(), rows * self.inputs, "x is not whole rows");
        self.forward_rows(x, RowLayout::dense(rows, self.inputs), f64_sums)
    }

    /// [`Self::forward`] on the rows of `x` at `layout`.
    pub fn forward_rows(&self, x: &[f32], layout: RowLayout, f64_sums: bool) -> Vec<f32> {
        let mut y = vec![0f32; layout.rows * self.outputs];
        if layout.rows == 0 {
            return y;
        }
        assert!(layout.end(self.inputs) <= x.len(), "rows outside x");
        match self.isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Isa::detect` found AVX-512F on this CPU; every row lies inside `x`
            // (checked above).
            Isa::Avx512 => unsafe {
                if f64_sums {
                    super::avx512::panels_apply_f64(self, x, layout, &mut y);
                } else {
                    super::avx512::panels_apply(self, x, layout, &mut y);
                }
                return y;
            },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Isa::detect` found AVX2 and FMA on this CPU; every row lies inside `x`
            // (checked above).
            Isa::Avx2Fma => unsafe {
                super::avx2::panels_apply(self, x, layout, &mut y, f64_sums);
                return y;
            },
            Isa::Portable => {}
        }
        if f64_sums {
            portable_apply_f64(self, x, layout, &mut y);
        } else {
            portable_apply(self, x, layout, &mut y);
        }
        y
    }

    /// Panel `p`: one lane per input.
    pub(super) fn panel(&self, p: usize) -> &[Lane] {
        &self.packed[p * self.inputs..(p + 1) * self.inputs]
    }

    pub(super) fn panel_bias(&self, p: usize) -> &Lane {
        &self.bias[p]
    }

    pub(super) fn panels(&self) -> usize {
        self.bias.len()
    }
}

/// Rows per tile of the portable kernel: 4 x 16 accumulators fit 8 AVX2 or 16 NEON registers.
const PORTABLE_ROWS: usize = 4;

/// The kernel for CPUs without AVX-512 or AVX2 + FMA (e.g. ARM), written so the compiler
/// vectorises it for the target.
fn portable_apply(panels: &Panels, x: &[f32], layout: RowLayout, y: &mut [f32]) {
    let (rows, inputs, outputs) = (layout.rows, panels.inputs, panels.outputs);
    for p in 0..panels.panels() {
        let weights = panels.panel(p);
        let first = p * PANEL;
        let lanes = PANEL.min(outputs - first);
        for r0 in (0..rows).step_by(PORTABLE_ROWS) {
            let tile = PORTABLE_ROWS.min(rows - r0);
            // A whole tile always: a partial one repeats its last row and drops the copies.
            let xs: [&[f32]; PORTABLE_ROWS] =
                std::array::from_fn(|m| &x[layout.offset(r0 + m.min(tile - 1))..][..inputs]);
            let mut acc = [panels.panel_bias(p).0; PORTABLE_ROWS];
            for (i, Lane(w)) in weights.iter().enumerate() {
                for (acc, x) in acc.iter_mut().zip(&xs) {
                    let xv = x[i];
                    for j in 0..PANEL {
                        acc[j] += xv * w[j];
                    }
                }
            }
            for (m, acc) in acc.iter().enumerate().take(tile) {
                let at = (r0 + m) * outputs + first;
                y[at..at + lanes].copy_from_slice(&acc[..lanes]);
            }
        }
    }
}

/// The kernel with f64 sums for CPUs without AVX-512 or AVX2 + FMA.
fn portable_apply_f64(panels: &Panels, x: &[f32], layout: RowLayout, y: &mut [f32]) {
    let (inputs, outputs) = (panels.inputs, panels.outputs);
    for p in 0..panels.panels() {
        let weights = panels.panel(p);
        let first = p * PANEL;
        let lanes = PANEL.min(outputs - first);
        for r in 0..layout.rows {
            let mut acc = panels.panel_bias(p).0.map(f64::from);
            let row = &x[layout.offset(r)..][..inputs];
            for (Lane(w), &xv) in weights.iter().zip(row) {
                for j in 0..PANEL {
                    acc[j] += f64::from(xv) * f64::from(w[j]);
                }
            }
            for (out, &sum) in y[r * outputs + first..][..lanes].iter_mut().zip(&acc) {
                *out = sum as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `x W^T + b` in f64.
    fn reference(w: &[f32], b: &[f32], x: &[f32], inputs: usize) -> Vec<f64> {
        x.chunks_exact(inputs)
            .flat_map(|row| {
                w.chunks_exact(inputs).zip(b).map(move |(wr, &bias)| {
                    f64::from(bias)
                        + wr.iter()
                            .zip(row)
                            .map(|(&a, &c)| f64::from(a) * f64::from(c))
                            .sum::<f64>()
                })
            })
            .collect()
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                s as f32 / u32::MAX as f32 - 0.5
            })
            .collect()
    }

    /// Every kernel (f32 and f64 sums; AVX-512, AVX2 and portable) on `x` at `layout` against the f64
    /// product of the explicitly gathered rows.
    fn check(panels: &Panels, w: &[f32], b: &[f32], x: &[f32], layout: RowLayout) {
        let inputs = panels.inputs();
        let gathered: Vec<f32> = (0..layout.rows)
            .flat_map(|r| x[layout.offset(r)..][..inputs].iter().copied())
            .collect();
        let want = reference(w, b, &gathered, inputs);
        let mut portable = vec![0f32; layout.rows * panels.outputs()];
        portable_apply(panels, x, layout, &mut portable);
        let mut portable_f64 = vec![0f32; layout.rows * panels.outputs()];
        portable_apply_f64(panels, x, layout, &mut portable_f64);
        let mut results = vec![
            (panels.forward_rows(x, layout, false), false),
            (portable, false),
            (panels.forward_rows(x, layout, true), true),
            (portable_f64, true),
        ];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            for f64_sums in [false, true] {
                let mut y = vec![0f32; layout.rows * panels.outputs()];
                // SAFETY: AVX2 and FMA are present; `layout` lies inside `x`.
                unsafe { super::super::avx2::panels_apply(panels, x, layout, &mut y, f64_sums) };
                results.push((y, f64_sums));
            }
        }
        let error = |got: &[f32]| {
            got.iter()
                .zip(&want)
                .map(|(&g, &r)| (f64::from(g) - r).abs())
                .fold(0.0, f64::max)
        };
        let f32_bound = 1e-5 * (inputs as f64).sqrt();
        for (got, f64_sums) in results {
            // With f64 sums: short f32 block sums and the final rounding to f32.
            let bound = if f64_sums { 4e-6 } else { f32_bound };
            let err = error(&got);
            assert!(
                err < bound,
                "{layout:?}, {inputs} -> {}: error {err}",
                panels.outputs()
            );
        }
    }

    /// Every tile shape: rows 1..=30 (full and partial tiles of both kernels), outputs that
    /// are and are not whole panels, odd and even panel counts, short and long inputs; dense
    /// rows, and overlapping rows in two groups (the windows of a strided conv on two channels).
    #[test]
    fn products_match_f64_for_every_tile_shape_and_layout_in_every_kernel_this_cpu_runs() {
        let mut kernels = vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                kernels.push(Isa::Avx2Fma);
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                kernels.push(Isa::Avx512);
            }
        }
        for (isa, (inputs, outputs)) in kernels.into_iter().flat_map(|isa| {
            [(1, 1), (7, 16), (96, 33), (130, 48), (512, 100)].map(|shape| (isa, shape))
        }) {
            let w = values(inputs * outputs, 1 + inputs as u32);
            let b = values(outputs, 7);
            let mut panels = Panels::new(&w, &b, inputs);
            panels.isa = isa;
            for rows in 1..=30 {
                let x = values(rows * inputs, rows as u32);
                check(&panels, &w, &b, &x, RowLayout::dense(rows, inputs));
                let per_group = rows.div_ceil(2);
                let row_stride = inputs.div_ceil(3);
                let group_stride = (per_group - 1) * row_stride + inputs + 5;
                let windows = RowLayout {
                    rows,
                    per_group,
                    group_stride,
                    row_stride,
                };
                let x = values(2 * group_stride, rows as u32 + 99);
                check(&panels, &w, &b, &x, windows);
            }
        }
    }
}

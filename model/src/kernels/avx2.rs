//! The AVX2 + FMA kernel of [`Panels`], for x86-64 CPUs without AVX-512: tiles of up to
//! [`ROWS`] rows x one panel (16 outputs, two 256-bit vectors) accumulate in 12 of the 16 vector
//! registers. The form with f64 sums adds f32 sums of [`BLOCK`] products in f64, as the AVX-512
//! kernel does.

use std::arch::x86_64::{
    __m256, __m256d, _MM_HINT_T0, _mm_prefetch, _mm256_add_pd, _mm256_castps256_ps128,
    _mm256_cvtps_pd, _mm256_extractf128_ps, _mm256_fmadd_ps, _mm256_load_ps, _mm256_set1_ps,
    _mm256_setzero_ps, _mm256_storeu_pd, _mm256_storeu_ps,
};

use super::panels::{PANEL, Panels, RowLayout};

/// Inputs ahead of the current one whose weights are prefetched.
const AHEAD: usize = 64;
/// Rows per f32 tile: 6 rows x 2 vectors = 12 accumulators.
const ROWS: usize = 6;
/// Rows per tile with f64 sums: 2 x (2 f32 + 4 f64) = 12 accumulators.
const ROWS_F64: usize = 2;
/// Inputs summed in f32 before each f64 accumulation.
const BLOCK: usize = 16;
/// f32 lanes per vector.
const HALF: usize = PANEL / 2;

/// `y = x W^T + b` for the rows of `layout`, with f64 sums if `f64_sums`.
///
/// # Safety
/// The CPU must support AVX2 and FMA; every row of `layout` lies inside `x`; `y` holds
/// `rows * outputs` values.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn panels_apply(
    panels: &Panels,
    x: &[f32],
    layout: RowLayout,
    y: &mut [f32],
    f64_sums: bool,
) {
    let rows = layout.rows;
    let per_tile = if f64_sums { ROWS_F64 } else { ROWS };
    for p in 0..panels.panels() {
        for r0 in (0..rows).step_by(per_tile) {
            let tile = per_tile.min(rows - r0);
            // SAFETY: AVX2 and FMA are enabled here; tiles stay inside `x` and `y`.
            unsafe {
                match (f64_sums, tile) {
                    (true, 2) => tile_f64::<2>(panels, p, x, layout, r0, y),
                    (true, _) => tile_f64::<1>(panels, p, x, layout, r0, y),
                    (false, 6) => tile_of::<6>(panels, p, x, layout, r0, y),
                    (false, 5) => tile_of::<5>(panels, p, x, layout, r0, y),
                    (false, 4) => tile_of::<4>(panels, p, x, layout, r0, y),
                    (false, 3) => tile_of::<3>(panels, p, x, layout, r0, y),
                    (false, 2) => tile_of::<2>(panels, p, x, layout, r0, y),
                    (false, _) => tile_of::<1>(panels, p, x, layout, r0, y),
                }
            }
        }
    }
}

/// Writes the first `lanes` sums of each row of a tile to `y`.
fn store(y: &mut [f32], sums: &[[f32; PANEL]], r0: usize, outputs: usize, first: usize) {
    let lanes = PANEL.min(outputs - first);
    for (m, sums) in sums.iter().enumerate() {
        let at = (r0 + m) * outputs + first;
        y[at..at + lanes].copy_from_slice(&sums[..lanes]);
    }
}

#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile_of<const MR: usize>(
    panels: &Panels,
    p: usize,
    x: &[f32],
    layout: RowLayout,
    r0: usize,
    y: &mut [f32],
) {
    let inputs = panels.inputs();
    let rows: [&[f32]; MR] = layout.tile(x, r0, inputs);
    let weights = panels.panel(p).as_ptr().cast::<f32>();
    let mut sums = [[0f32; PANEL]; MR];
    // SAFETY: lanes are 64-byte aligned (`Lane`) and the panel holds `inputs` of them; every
    // row holds `inputs` values (sliced above).
    unsafe {
        let bias = panels.panel_bias(p).0.as_ptr();
        let mut acc: [[__m256; 2]; MR] =
            [[_mm256_load_ps(bias), _mm256_load_ps(bias.add(HALF))]; MR];
        let xs: [*const f32; MR] = rows.map(<[f32]>::as_ptr);
        for i in 0..inputs {
            _mm_prefetch::<_MM_HINT_T0>(weights.wrapping_add((i + AHEAD) * PANEL).cast::<i8>());
            let w = weights.add(i * PANEL);
            let (lo, hi) = (_mm256_load_ps(w), _mm256_load_ps(w.add(HALF)));
            for (m, acc) in acc.iter_mut().enumerate() {
                let xv = _mm256_set1_ps(*xs[m].add(i));
                acc[0] = _mm256_fmadd_ps(xv, lo, acc[0]);
                acc[1] = _mm256_fmadd_ps(xv, hi, acc[1]);
            }
        }
        for (sums, acc) in sums.iter_mut().zip(&acc) {
            _mm256_storeu_ps(sums.as_mut_ptr(), acc[0]);
            _mm256_storeu_ps(sums.as_mut_ptr().add(HALF), acc[1]);
        }
    }
    store(y, &sums, r0, panels.outputs(), p * PANEL);
}

/// A tile of `MR` rows x one panel with f64 sums: blocks of [`BLOCK`] inputs accumulate in f32
/// fused multiply-adds, the block sums in f64.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile_f64<const MR: usize>(
    panels: &Panels,
    p: usize,
    x: &[f32],
    layout: RowLayout,
    r0: usize,
    y: &mut [f32],
) {
    let inputs = panels.inputs();
    let rows: [&[f32]; MR] = layout.tile(x, r0, inputs);
    let weights = panels.panel(p).as_ptr().cast::<f32>();
    let mut sums = [[0f32; PANEL]; MR];
    // SAFETY: as in `tile_of`.
    unsafe {
        let bias = panels.panel_bias(p).0.as_ptr();
        let widen = |v: __m256| -> [__m256d; 2] {
            [
                _mm256_cvtps_pd(_mm256_castps256_ps128(v)),
                _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v)),
            ]
        };
        let (b0, b1) = (
            widen(_mm256_load_ps(bias)),
            widen(_mm256_load_ps(bias.add(HALF))),
        );
        let mut wide: [[__m256d; 4]; MR] = [[b0[0], b0[1], b1[0], b1[1]]; MR];
        let xs: [*const f32; MR] = rows.map(<[f32]>::as_ptr);
        for start in (0..inputs).step_by(BLOCK) {
            let mut acc = [[_mm256_setzero_ps(); 2]; MR];
            for i in start..(start + BLOCK).min(inputs) {
                _mm_prefetch::<_MM_HINT_T0>(weights.wrapping_add((i + AHEAD) * PANEL).cast::<i8>());
                let w = weights.add(i * PANEL);
                let (lo, hi) = (_mm256_load_ps(w), _mm256_load_ps(w.add(HALF)));
                for (m, acc) in acc.iter_mut().enumerate() {
                    let xv = _mm256_set1_ps(*xs[m].add(i));
                    acc[0] = _mm256_fmadd_ps(xv, lo, acc[0]);
                    acc[1] = _mm256_fmadd_ps(xv, hi, acc[1]);
                }
            }
            for (wide, acc) in wide.iter_mut().zip(acc) {
                let (a, b) = (widen(acc[0]), widen(acc[1]));
                wide[0] = _mm256_add_pd(wide[0], a[0]);
                wide[1] = _mm256_add_pd(wide[1], a[1]);
                wide[2] = _mm256_add_pd(wide[2], b[0]);
                wide[3] = _mm256_add_pd(wide[3], b[1]);
            }
        }
        let mut f64_sums = [0f64; PANEL];
        for (sums, wide) in sums.iter_mut().zip(&wide) {
            for (q, part) in wide.iter().enumerate() {
                _mm256_storeu_pd(f64_sums.as_mut_ptr().add(4 * q), *part);
            }
            for (s, &v) in sums.iter_mut().zip(&f64_sums) {
                *s = v as f32;
            }
        }
    }
    store(y, &sums, r0, panels.outputs(), p * PANEL);
}

//! The AVX-512 kernel of [`Panels::forward_rows`]: tiles of up to [`ROWS`] rows x two panels (32
//! outputs) accumulate in 24 of the 32 vector registers; per input, two weight vectors are
//! loaded and each row's input value is broadcast into two fused multiply-adds. The form with
//! f64 sums accumulates short f32 blocks and adds them in f64 (see [`tile_f64`]).

use std::arch::x86_64::{
    __m512, __m512d, __mmask16, _MM_HINT_T0, _mm_prefetch, _mm256_castpd_ps, _mm256_load_ps,
    _mm512_add_pd, _mm512_castpd512_pd256, _mm512_castps_pd, _mm512_cvtps_pd,
    _mm512_extractf64x4_pd, _mm512_fmadd_ps, _mm512_load_ps, _mm512_mask_storeu_ps, _mm512_set1_ps,
    _mm512_setzero_ps, _mm512_storeu_pd,
};

use super::panels::{PANEL, Panels, RowLayout};

/// Inputs ahead of the current one whose weights are prefetched.
const AHEAD: usize = 64;

/// Rows per tile: 12 rows x 2 panels = 24 accumulators.
const ROWS: usize = 12;

/// Calls `$tile::<rows, ..>($args)` with the row count `$rows` (1..=ROWS) as a compile-time
/// constant, so that the accumulators live in registers.
macro_rules! with_rows {
    ($rows:expr, $tile:ident, [$($generic:tt),*], $($arg:expr),*) => {
        match $rows {
            12 => $tile::<12 $(, $generic)*>($($arg),*),
            11 => $tile::<11 $(, $generic)*>($($arg),*),
            10 => $tile::<10 $(, $generic)*>($($arg),*),
            9 => $tile::<9 $(, $generic)*>($($arg),*),
            8 => $tile::<8 $(, $generic)*>($($arg),*),
            7 => $tile::<7 $(, $generic)*>($($arg),*),
            6 => $tile::<6 $(, $generic)*>($($arg),*),
            5 => $tile::<5 $(, $generic)*>($($arg),*),
            4 => $tile::<4 $(, $generic)*>($($arg),*),
            3 => $tile::<3 $(, $generic)*>($($arg),*),
            2 => $tile::<2 $(, $generic)*>($($arg),*),
            _ => $tile::<1 $(, $generic)*>($($arg),*),
        }
    };
}

/// `y = x W^T + b` for `rows` rows of `x`.
///
/// # Safety
/// The CPU must support AVX-512F; every row of `layout` lies inside `x`; `y` holds
/// `rows * outputs` values.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn panels_apply(panels: &Panels, x: &[f32], layout: RowLayout, y: &mut [f32]) {
    let rows = layout.rows;
    let count = panels.panels();
    for p in (0..count).step_by(2) {
        for r0 in (0..rows).step_by(ROWS) {
            let tile = ROWS.min(rows - r0);
            // SAFETY: AVX-512F is enabled here; tiles stay inside `x` and `y`.
            unsafe {
                if p + 1 < count {
                    with_rows!(tile, tile_of, [2], panels, p, x, layout, r0, y);
                } else {
                    with_rows!(tile, tile_of, [1], panels, p, x, layout, r0, y);
                }
            }
        }
    }
}

/// [`panels_apply`] with f64 sums (see [`tile_f64`]).
///
/// # Safety
/// As for [`panels_apply`].
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn panels_apply_f64(
    panels: &Panels,
    x: &[f32],
    layout: RowLayout,
    y: &mut [f32],
) {
    // Rows per f64 tile: 8 f32 block sums + 16 f64 sums in registers.
    const ROWS_F64: usize = 8;
    let rows = layout.rows;
    for p in 0..panels.panels() {
        for r0 in (0..rows).step_by(ROWS_F64) {
            let tile = ROWS_F64.min(rows - r0);
            // SAFETY: AVX-512F is enabled here; tiles stay inside `x` and `y`.
            unsafe { with_rows!(tile, tile_f64, [], panels, p, x, layout, r0, y) };
        }
    }
}

#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn tile_of<const MR: usize, const NP: usize>(
    panels: &Panels,
    p: usize,
    x: &[f32],
    layout: RowLayout,
    r0: usize,
    y: &mut [f32],
) {
    let (inputs, outputs) = (panels.inputs(), panels.outputs());
    assert!(p + NP <= panels.panels());
    let weights: [*const f32; NP] =
        std::array::from_fn(|q| panels.panel(p + q).as_ptr().cast::<f32>());
    let rows: [&[f32]; MR] = layout.tile(x, r0, inputs);
    // SAFETY: lanes are 64-byte aligned ([`super::panels::Lane`]) and `inputs * PANEL` long;
    // every row holds `inputs` values (sliced above).
    unsafe {
        let mut acc: [[__m512; NP]; MR] =
            [std::array::from_fn(|q| _mm512_load_ps(panels.panel_bias(p + q).0.as_ptr())); MR];
        let xs: [*const f32; MR] = rows.map(<[f32]>::as_ptr);
        for i in 0..inputs {
            for panel in weights {
                _mm_prefetch::<_MM_HINT_T0>(panel.wrapping_add((i + AHEAD) * PANEL).cast::<i8>());
            }
            let w: [__m512; NP] =
                std::array::from_fn(|q| _mm512_load_ps(weights[q].add(i * PANEL)));
            for (m, acc) in acc.iter_mut().enumerate() {
                let xv = _mm512_set1_ps(*xs[m].add(i));
                for q in 0..NP {
                    acc[q] = _mm512_fmadd_ps(xv, w[q], acc[q]);
                }
            }
        }
        for q in 0..NP {
            let first = (p + q) * PANEL;
            let lanes = PANEL.min(outputs - first);
            let mask: __mmask16 = if lanes == PANEL { !0 } else { (1 << lanes) - 1 };
            for (m, acc) in acc.iter().enumerate() {
                let at = (r0 + m) * outputs + first;
                assert!(at + lanes <= y.len());
                _mm512_mask_storeu_ps(y.as_mut_ptr().add(at), mask, acc[q]);
            }
        }
    }
}

/// Inputs summed in f32 before each f64 accumulation (see [`tile_f64`]).
const BLOCK: usize = 16;

/// A tile of `MR` rows x one panel with f64 sums: blocks of [`BLOCK`] inputs accumulate in f32
/// fused multiply-adds (each product exact, one rounding per step), and the block sums in f64.
/// A block's partial sums stay within a few terms' size, so its rounding is that of a short
/// sum; what cancels across the whole row (the latent is a small difference of large terms)
/// cancels in f64.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn tile_f64<const MR: usize>(
    panels: &Panels,
    p: usize,
    x: &[f32],
    layout: RowLayout,
    r0: usize,
    y: &mut [f32],
) {
    let (inputs, outputs) = (panels.inputs(), panels.outputs());
    assert!(p < panels.panels());
    let rows: [&[f32]; MR] = layout.tile(x, r0, inputs);
    let weights = panels.panel(p).as_ptr().cast::<f32>();
    let half = PANEL / 2;
    // SAFETY: as in `tile_of`.
    unsafe {
        let bias = panels.panel_bias(p).0.as_ptr();
        let mut wide: [[__m512d; 2]; MR] = [[
            _mm512_cvtps_pd(_mm256_load_ps(bias)),
            _mm512_cvtps_pd(_mm256_load_ps(bias.add(half))),
        ]; MR];
        let xs: [*const f32; MR] = rows.map(<[f32]>::as_ptr);
        for start in (0..inputs).step_by(BLOCK) {
            let mut acc = [_mm512_setzero_ps(); MR];
            for i in start..(start + BLOCK).min(inputs) {
                _mm_prefetch::<_MM_HINT_T0>(weights.wrapping_add((i + AHEAD) * PANEL).cast::<i8>());
                let w = _mm512_load_ps(weights.add(i * PANEL));
                for (m, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm512_fmadd_ps(_mm512_set1_ps(*xs[m].add(i)), w, *acc);
                }
            }
            for (wide, acc) in wide.iter_mut().zip(acc) {
                let acc = _mm512_castps_pd(acc);
                let lo = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_castpd512_pd256(acc)));
                let hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(acc)));
                wide[0] = _mm512_add_pd(wide[0], lo);
                wide[1] = _mm512_add_pd(wide[1], hi);
            }
        }
        let first = p * PANEL;
        let lanes = PANEL.min(outputs - first);
        let mut sums = [0f64; PANEL];
        for (m, wide) in wide.iter().enumerate() {
            _mm512_storeu_pd(sums.as_mut_ptr(), wide[0]);
            _mm512_storeu_pd(sums.as_mut_ptr().add(half), wide[1]);
            let at = (r0 + m) * outputs + first;
            for (out, &sum) in y[at..at + lanes].iter_mut().zip(&sums) {
                *out = sum as f32;
            }
        }
    }
}

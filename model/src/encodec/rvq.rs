//! Residual vector quantizer of EnCodec (encodec `quantization/core_vq.py`).
//!
//! Per layer, on the residual `r`: code = argmin_j ||r - E_j||^2 computed as the reference does,
//! `||r||^2 - 2 r.E_j + ||E_j||^2`, first index on ties; then `r -= E[code]`. Codes of a lower
//! bandwidth are a prefix of the codes of a higher one.

use candle_core::{D, Tensor};
use rayon::prelude::*;

use super::names::EncodecWeights;
use crate::error::{ModelError, Result};
use crate::kernels::{FEW_ROWS, Panels};

/// Frames per block of [`ResidualVectorQuantizer::encode`].
const RVQ_BLOCK_FRAMES: usize = 256;

pub struct Codebook {
    /// `(bins, D)`.
    pub embed: Tensor,
    /// `||E_j||^2`, cached once at load (the reference recomputes it per call).
    norms: Vec<f32>,
    /// `E` row-major, for the residual update.
    rows: Vec<f32>,
    /// `E` packed (no bias): the dots `r . E_j` of a few frames per call.
    panels: Panels,
}

pub struct ResidualVectorQuantizer {
    pub codebooks: Vec<Codebook>,
    pub dim: usize,
    pub bins: usize,
}

/// Codes of one stream: `rows[q][t]` for codebook `q` and frame `t`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codes {
    pub rows: Vec<Vec<u32>>,
}

impl Codes {
    pub fn num_codebooks(&self) -> usize {
        self.rows.len()
    }

    pub fn num_frames(&self) -> usize {
        self.rows.first().map_or(0, Vec::len)
    }
}

impl ResidualVectorQuantizer {
    pub fn load(weights: &EncodecWeights, n_q: usize, bins: usize, dim: usize) -> Result<Self> {
        let codebooks = (0..n_q)
            .map(|q| {
                let embed = weights.tensor(
                    &format!("quantizer.vq.layers.{q}._codebook.embed"),
                    &[bins, dim],
                )?;
                let norms = embed.sqr()?.sum(D::Minus1)?.to_vec1::<f32>()?;
                let rows = embed.flatten_all()?.to_vec1::<f32>()?;
                let panels = Panels::new(&rows, &vec![0.0; bins], dim);
                Ok(Codebook {
                    embed,
                    norms,
                    rows,
                    panels,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            codebooks,
            dim,
            bins,
        })
    }

    /// Quantizes `latent` `(1, D, T)` with the first `n_q` codebooks.
    pub fn encode(&self, latent: &Tensor, n_q: usize) -> Result<Codes> {
        if n_q > self.codebooks.len() {
            return Err(ModelError::Input(format!(
                "{n_q} codebooks requested, the quantizer has {}",
                self.codebooks.len()
            )));
        }
        let frames = latent.squeeze(0)?.t()?.contiguous()?; // (T, D)
        let total = frames.dim(0)?;
        // Frames are quantized independently: blocks of frames run in parallel, and each block's
        // (frames, bins) distance table stays small.
        let blocks = (0..total.div_ceil(RVQ_BLOCK_FRAMES))
            .into_par_iter()
            .map(|b| {
                let first = b * RVQ_BLOCK_FRAMES;
                let len = RVQ_BLOCK_FRAMES.min(total - first);
                self.encode_block(frames.narrow(0, first, len)?, n_q)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut rows = vec![Vec::with_capacity(total); n_q];
        for block in blocks {
            for (row, part) in rows.iter_mut().zip(block) {
                row.extend(part);
            }
        }
        Ok(Codes { rows })
    }

    /// Codes of time-major frames `(T, D)` with a codebook count per frame: `codes[t]` holds
    /// the first `n_q[t]` codes of frame `t`. Frames are quantized independently, so this is
    /// exactly [`Self::encode`] frame by frame.
    pub fn encode_frames(&self, frames: &Tensor, n_q: &[usize]) -> Result<Vec<Vec<u32>>> {
        let total = frames.dim(0)?;
        if n_q.len() != total {
            return Err(ModelError::Input(format!(
                "{} codebook counts for {total} frames",
                n_q.len()
            )));
        }
        if let Some(&too_many) = n_q.iter().find(|&&n| n > self.codebooks.len()) {
            return Err(ModelError::Input(format!(
                "{too_many} codebooks requested, the quantizer has {}",
                self.codebooks.len()
            )));
        }
        let mut codes = Vec::with_capacity(total);
        let mut first = 0;
        while first < total {
            // A run of frames with the same codebook count is one block.
            let count = n_q[first];
            let len = n_q[first..].iter().take_while(|&&n| n == count).count();
            let rows = self.encode_block(frames.narrow(0, first, len)?, count)?;
            codes.extend((0..len).map(|t| rows.iter().map(|row| row[t]).collect::<Vec<u32>>()));
            first += len;
        }
        Ok(codes)
    }

    /// Codes `(n_q, len)` of the time-major residual block `(len, D)`.
    fn encode_block(&self, residual: Tensor, n_q: usize) -> Result<Vec<Vec<u32>>> {
        let (len, dim) = residual.dims2()?;
        let mut residual = residual.flatten_all()?.to_vec1::<f32>()?;
        let mut rows = Vec::with_capacity(n_q);
        for book in &self.codebooks[..n_q] {
            let dots = if len <= FEW_ROWS {
                book.panels.forward(&residual, false)
            } else {
                Tensor::from_slice(&residual, (len, dim), book.embed.device())?
                    .matmul(&book.embed.t()?)?
                    .flatten_all()?
                    .to_vec1::<f32>()?
            };
            let codes: Vec<u32> = dots
                .chunks_exact(self.bins)
                .zip(residual.chunks_exact(dim))
                .map(|(dot, r)| nearest(r.iter().map(|v| v * v).sum(), dot, &book.norms))
                .collect();
            for (r, &code) in residual.chunks_exact_mut(dim).zip(&codes) {
                let e = &book.rows[code as usize * dim..(code as usize + 1) * dim];
                r.iter_mut().zip(e).for_each(|(r, e)| *r -= e);
            }
            rows.push(codes);
        }
        Ok(rows)
    }

    /// Sum of the codebook rows selected by `codes`: the quantized latent `(1, D, T)`. Codes must
    /// be rectangular, below `bins`, with at most as many rows as codebooks.
    pub fn decode(&self, codes: &Codes) -> Result<Tensor> {
        self.check_codes(codes)?;
        let mut sum: Option<Tensor> = None;
        for (book, row) in self.codebooks.iter().zip(&codes.rows) {
            let index = Tensor::from_slice(row, row.len(), book.embed.device())?;
            let part = book.embed.index_select(&index, 0)?;
            sum = Some(match sum {
                Some(s) => (s + part)?,
                None => part,
            });
        }
        let sum = sum.ok_or_else(|| ModelError::Input("no codebooks to decode".into()))?;
        Ok(sum.t()?.unsqueeze(0)?)
    }
}

impl ResidualVectorQuantizer {
    fn check_codes(&self, codes: &Codes) -> Result<()> {
        let frames = codes.num_frames();
        if codes.rows.is_empty() || codes.rows.len() > self.codebooks.len() {
            return Err(ModelError::Input(format!(
                "{} rows of codes, the quantizer has 1..={} codebooks",
                codes.rows.len(),
                self.codebooks.len()
            )));
        }
        for (q, row) in codes.rows.iter().enumerate() {
            if row.len() != frames {
                return Err(ModelError::Input(format!(
                    "codebook {q} has {} frames, codebook 0 has {frames}",
                    row.len()
                )));
            }
            if let Some(t) = row.iter().position(|&c| c as usize >= self.bins) {
                return Err(ModelError::Input(format!(
                    "code {} at codebook {q}, frame {t} is not below {} bins",
                    row[t], self.bins
                )));
            }
        }
        Ok(())
    }
}

/// Index of the smallest `r2 - 2 dot_j + norm_j`; the first one on exact ties.
fn nearest(r2: f32, dots: &[f32], norms: &[f32]) -> u32 {
    let mut best = (0u32, f32::INFINITY);
    for (j, (&dot, &norm)) in dots.iter().zip(norms).enumerate() {
        let dist = r2 - 2.0 * dot + norm;
        if dist < best.1 {
            best = (j as u32, dist);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::nearest;

    #[test]
    fn nearest_takes_the_first_index_on_ties() {
        assert_eq!(nearest(1.0, &[0.5, 1.0, 1.0], &[1.0, 1.0, 1.0]), 1);
        assert_eq!(nearest(0.0, &[0.0, 0.0], &[2.0, 1.0]), 1);
    }
}

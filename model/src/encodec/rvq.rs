//! Residual vector quantizer of EnCodec (encodec `quantization/core_vq.py`).
//!
//! Per layer, on the residual `r`: code = argmin_j ||r - E_j||^2 computed as the reference does,
//! `||r||^2 - 2 r.E_j + ||E_j||^2`, first index on ties; then `r -= E[code]`. Codes of a lower
//! bandwidth are a prefix of the codes of a higher one.

use candle_core::{D, Tensor};
use rayon::prelude::*;

use super::names::EncodecWeights;
use crate::error::{ModelError, Result};
use crate::kernels::Dense;
use crate::vocos::features::validate_codes;

/// Frames per block of [`ResidualVectorQuantizer::encode`].
const RVQ_BLOCK_FRAMES: usize = 256;

pub struct Codebook {
    /// `(bins, D)`.
    pub embed: Tensor,
    /// `||E_j||^2`, cached once at load (the reference recomputes it per call).
    norms: Vec<f32>,
    /// `E` row-major, for the residual update.
    rows: Vec<f32>,
    /// `E` as a dense layer without bias: the dots `r . E_j`.
    dots: Dense,
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
                let dots =
                    Dense::new(&embed, &Tensor::zeros(bins, embed.dtype(), embed.device())?)?;
                Ok(Codebook {
                    embed,
                    norms,
                    rows,
                    dots,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            codebooks,
            dim,
            bins,
        })
    }

    /// `EncodecModel.encode`'s quantization of a whole clip at `n_q` codebooks: `latent` holds
    /// `T` frames of `D` values, frame-major; codes `(n_q, T)`. Blocks of frames run on all
    /// cores.
    pub fn encode(&self, latent: &[f32], n_q: usize) -> Result<Codes> {
        self.check_counts(&[n_q])?;
        let total = latent.len() / self.dim;
        let blocks = latent
            .par_chunks(RVQ_BLOCK_FRAMES * self.dim)
            .map(|block| self.encode_block(block, n_q))
            .collect::<Result<Vec<_>>>()?;
        let mut rows = vec![Vec::with_capacity(total); n_q];
        for block in blocks {
            for (row, part) in rows.iter_mut().zip(block) {
                row.extend(part);
            }
        }
        Ok(Codes { rows })
    }

    /// Codes of frames that each have their own number of codebooks (a bandwidth per frame, as
    /// when streaming): `frames` holds `counts.len()` frames of `D` values; returns each frame's
    /// codes, codebook 0 first. Runs of frames with the same count are quantized together.
    pub fn encode_frames(&self, frames: &[f32], counts: &[usize]) -> Result<Vec<Vec<u32>>> {
        let total = frames.len() / self.dim;
        if counts.len() != total {
            return Err(ModelError::FrameCount {
                given: counts.len(),
                frames: total,
            });
        }
        self.check_counts(counts)?;
        let mut codes = Vec::with_capacity(total);
        let mut first = 0;
        while first < total {
            let count = counts[first];
            let len = counts[first..].iter().take_while(|&&n| n == count).count();
            let block = &frames[first * self.dim..(first + len) * self.dim];
            let rows = self.encode_block(block, count)?;
            codes.extend((0..len).map(|t| rows.iter().map(|row| row[t]).collect::<Vec<u32>>()));
            first += len;
        }
        Ok(codes)
    }

    fn check_counts(&self, counts: &[usize]) -> Result<()> {
        match counts.iter().find(|&&n| n > self.codebooks.len()) {
            Some(&requested) => Err(ModelError::Codebooks {
                requested,
                available: self.codebooks.len(),
            }),
            None => Ok(()),
        }
    }

    /// Codes `(n_q, len)` of `len` frames of `D` values.
    fn encode_block(&self, frames: &[f32], n_q: usize) -> Result<Vec<Vec<u32>>> {
        let dim = self.dim;
        let mut residual = frames.to_vec();
        let mut rows = Vec::with_capacity(n_q);
        for book in &self.codebooks[..n_q] {
            let dots = book.dots.forward(&residual);
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
        let sum = sum.ok_or(ModelError::CodebookCount {
            given: 0,
            max: self.codebooks.len(),
        })?;
        Ok(sum.t()?.unsqueeze(0)?)
    }
}

impl ResidualVectorQuantizer {
    fn check_codes(&self, codes: &Codes) -> Result<()> {
        validate_codes(&codes.rows, self.codebooks.len(), self.bins).map(|_| ())
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

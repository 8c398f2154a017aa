//! EnCodec codes as `.npy` files: written as int64 `(n_q, T)`, read as `(n_q, T)` or `(n_q, 1, T)`
//! (the layout Bark's fine tokens and `EncodecModel.encode` produce) in any integer dtype.

use std::path::Path;

use npyz::{DType, NpyFile, WriterBuilder};

use crate::error::{CliError, Result};

/// Codes of one stream: `rows[q][t]` is codebook `q`'s index at frame `t`.
pub struct CodesArray {
    pub rows: Vec<Vec<i64>>,
}

/// Reads codes saved with `numpy.save`.
pub fn read_codes(path: &Path) -> Result<CodesArray> {
    let bad = |reason: String| CliError::ReadCodes {
        path: path.to_owned(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let npy = NpyFile::new(&bytes[..]).map_err(|e| bad(format!("not a .npy file ({e})")))?;
    let shape: Vec<u64> = npy.shape().to_vec();
    let (n_q, frames) = match shape[..] {
        [n_q, frames] | [n_q, 1, frames] => (n_q as usize, frames as usize),
        _ => {
            return Err(bad(format!(
                "expected shape (n_q, T) or (n_q, 1, T), found {shape:?}"
            )));
        }
    };
    if npy.order() != npyz::Order::C {
        return Err(bad(
            "Fortran-ordered arrays are not supported; save with numpy.ascontiguousarray".into(),
        ));
    }
    let flat: Vec<i64> = match npy.dtype() {
        DType::Plain(ty)
            if ty.type_char() == npyz::TypeChar::Int || ty.type_char() == npyz::TypeChar::Uint =>
        {
            read_integers(npy, ty.size_field()).map_err(|e| bad(e.to_string()))?
        }
        other => {
            return Err(bad(format!(
                "codes must be integers, found dtype {}",
                other.descr()
            )));
        }
    };
    if frames == 0 || n_q == 0 {
        return Err(bad(format!("empty codes array of shape {shape:?}")));
    }
    if flat.len() != n_q * frames {
        return Err(bad(format!(
            "file holds {} values, shape {shape:?} needs {}",
            flat.len(),
            n_q * frames
        )));
    }
    Ok(CodesArray {
        rows: flat.chunks_exact(frames).map(<[i64]>::to_vec).collect(),
    })
}

/// Widens any integer element type to i64.
fn read_integers(npy: NpyFile<&[u8]>, size: u64) -> std::io::Result<Vec<i64>> {
    let signed = matches!(npy.dtype(), DType::Plain(ty) if ty.type_char() == npyz::TypeChar::Int);
    Ok(match (signed, size) {
        (true, 8) => npy.into_vec::<i64>()?,
        (true, 4) => npy.into_vec::<i32>()?.into_iter().map(i64::from).collect(),
        (true, 2) => npy.into_vec::<i16>()?.into_iter().map(i64::from).collect(),
        (true, 1) => npy.into_vec::<i8>()?.into_iter().map(i64::from).collect(),
        (false, 8) => npy
            .into_vec::<u64>()?
            .into_iter()
            .map(|v| v as i64)
            .collect(),
        (false, 4) => npy.into_vec::<u32>()?.into_iter().map(i64::from).collect(),
        (false, 2) => npy.into_vec::<u16>()?.into_iter().map(i64::from).collect(),
        (false, 1) => npy.into_vec::<u8>()?.into_iter().map(i64::from).collect(),
        _ => {
            return Err(std::io::Error::other(format!(
                "unsupported integer size {size}"
            )));
        }
    })
}

/// Writes codes as a C-ordered int64 array of shape `(n_q, T)`.
pub fn write_codes(path: &Path, codes: &CodesArray) -> Result<()> {
    let write_err = |source| CliError::WriteCodes {
        path: path.to_owned(),
        source,
    };
    let frames = codes.rows.first().map_or(0, Vec::len) as u64;
    let file = std::fs::File::create(path).map_err(write_err)?;
    let mut writer = npyz::WriteOptions::<i64>::new()
        .default_dtype()
        .shape(&[codes.rows.len() as u64, frames])
        .writer(std::io::BufWriter::new(file))
        .begin_nd()
        .map_err(write_err)?;
    for row in &codes.rows {
        writer.extend(row.iter().copied()).map_err(write_err)?;
    }
    writer.finish().map_err(write_err)
}

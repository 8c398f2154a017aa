//! Checkpoint files as flat maps from tensor name to tensor: torch zip pickles (`.th`, `.bin`,
//! `.pt`, as written by `torch.save(state_dict)`) and safetensors files.
//!
//! Lookups check presence, shape and dtype and report the file and tensor at fault, so a wrong,
//! truncated or mismatched file never panics deep inside a layer. Loading trusts no size a file
//! states: every one is checked against the file's length before anything is allocated.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::error::{ModelError, Result};

mod torch;

pub struct Checkpoint {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
}

impl Checkpoint {
    /// Reads every tensor of `path`. The format is chosen by content, not by extension: torch
    /// checkpoints are zip archives (`PK`, read by [`torch::read`]), anything else is tried as
    /// safetensors (a little-endian header length, then a JSON header; the safetensors crate
    /// checks every tensor's extent against the file before anything is allocated beyond the
    /// file's size). Every floating-point tensor must be finite, used by a model or not: NaN or
    /// Inf anywhere means a corrupt file.
    pub fn load(path: &Path) -> Result<Self> {
        let unreadable = |reason: String| ModelError::UnreadableCheckpoint {
            path: path.to_owned(),
            reason,
        };
        let io = |source| ModelError::Io {
            path: path.to_owned(),
            source,
        };
        let mut magic = [0u8; 2];
        let (mut file, file_len) = open_file(path)?;
        let is_zip = match file.read_exact(&mut magic) {
            Ok(()) => magic == *b"PK",
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => false,
            Err(e) => return Err(io(e)),
        };
        let tensors: HashMap<String, Tensor> = if is_zip {
            torch::read(path, file, file_len)?
        } else {
            candle_core::safetensors::load_buffer(&read_file(path)?, &Device::Cpu).map_err(|e| {
                unreadable(format!(
                    "not a torch zip archive, and as safetensors: {}",
                    candle_message(e)
                ))
            })?
        };
        if tensors.is_empty() {
            return Err(unreadable("it holds no tensors".into()));
        }
        let mut names: Vec<&String> = tensors.keys().collect();
        names.sort();
        for name in names {
            if !is_finite(&tensors[name])? {
                return Err(ModelError::NonFiniteTensor {
                    path: path.to_owned(),
                    name: name.clone(),
                });
            }
        }
        Ok(Self {
            path: path.to_owned(),
            tensors,
        })
    }

    /// Builds a checkpoint from tensors already in memory (tests, renamed layouts).
    pub fn from_tensors(path: &Path, tensors: HashMap<String, Tensor>) -> Self {
        Self {
            path: path.to_owned(),
            tensors,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// The stored shape of `name`, if present.
    pub fn dims(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(Tensor::dims)
    }

    /// Tensor `name` as contiguous f32 of exactly `shape`. Half-precision and f64 tensors are
    /// widened/narrowed to f32; integer tensors are a dtype error; NaN/Inf values are an error.
    pub fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let tensor = self
            .tensors
            .get(name)
            .ok_or_else(|| ModelError::MissingTensor {
                path: self.path.clone(),
                name: name.to_owned(),
            })?;
        if tensor.dims() != shape {
            return Err(ModelError::ShapeMismatch {
                path: self.path.clone(),
                name: name.to_owned(),
                expected: shape.to_vec(),
                actual: tensor.dims().to_vec(),
            });
        }
        let tensor = match tensor.dtype() {
            DType::F32 => tensor.clone(),
            DType::F16 | DType::BF16 | DType::F64 => tensor.to_dtype(DType::F32)?,
            other => {
                return Err(ModelError::DType {
                    path: self.path.clone(),
                    name: name.to_owned(),
                    expected: "a floating-point tensor (f32, f16, bf16 or f64)".into(),
                    actual: format!("{other:?}"),
                });
            }
        };
        if !is_finite(&tensor)? {
            return Err(ModelError::NonFiniteTensor {
                path: self.path.clone(),
                name: name.to_owned(),
            });
        }
        Ok(tensor.contiguous()?)
    }

    /// Like [`Checkpoint::tensor`], with the shape read from the file; for tensors whose size
    /// tells a hyper-parameter. Only the rank is checked.
    pub fn tensor_of_rank(&self, name: &str, rank: usize) -> Result<Tensor> {
        let dims = self
            .tensors
            .get(name)
            .ok_or_else(|| ModelError::MissingTensor {
                path: self.path.clone(),
                name: name.to_owned(),
            })?
            .dims()
            .to_vec();
        if dims.len() != rank {
            return Err(ModelError::ShapeMismatch {
                path: self.path.clone(),
                name: name.to_owned(),
                expected: vec![0; rank],
                actual: dims,
            });
        }
        self.tensor(name, &dims)
    }
}

/// `path` opened for reading, with its length, if it is a regular file: a directory, a FIFO or
/// a device such as `/dev/zero` is not a model file (opening or reading one could block, or
/// never end), so the kind is checked before opening.
pub(crate) fn open_file(path: &Path) -> Result<(File, u64)> {
    let io = |source| ModelError::Io {
        path: path.to_owned(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(io)?;
    if !metadata.is_file() {
        let what = if metadata.is_dir() {
            "a directory, not a file"
        } else {
            "not a regular file"
        };
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            what,
        )));
    }
    let file = File::open(path).map_err(io)?;
    Ok((file, metadata.len()))
}

/// The whole of the regular file `path` (see [`open_file`]), never more than the length it
/// had when opened.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    let (file, len) = open_file(path)?;
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(len)
        .read_to_end(&mut bytes)
        .map_err(|source| ModelError::Io {
            path: path.to_owned(),
            source,
        })?;
    Ok(bytes)
}

/// A candle error's message, on one line: without the backtrace candle appends to it when
/// `RUST_BACKTRACE` is set.
fn candle_message(error: candle_core::Error) -> String {
    match error {
        candle_core::Error::WithBacktrace { inner, .. } => inner.to_string(),
        other => other.to_string(),
    }
}

/// Whether every value of `tensor` is finite; integer tensors always are.
fn is_finite(tensor: &Tensor) -> Result<bool> {
    Ok(match tensor.dtype() {
        DType::F32 => tensor
            .flatten_all()?
            .to_vec1::<f32>()?
            .iter()
            .all(|v| v.is_finite()),
        DType::F16 | DType::BF16 | DType::F64 => tensor
            .flatten_all()?
            .to_dtype(DType::F64)?
            .to_vec1::<f64>()?
            .iter()
            .all(|v| v.is_finite()),
        _ => true,
    })
}

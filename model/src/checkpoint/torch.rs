//! Torch zip checkpoints (`torch.save(state_dict)`), read without trusting the file.
//!
//! candle's `pickle::read_all` trusts what it reads: it indexes the pickle's tuples with
//! `Vec::remove` (a panic on a corrupt tensor record), allocates whatever string length or
//! tensor shape the pickle announces before reading it, copies memoised objects without bound,
//! and reads exactly the bytes a tensor needs, so the zip entries' checksums are never verified
//! and flipped weights load silently. Here candle only runs the pickle opcodes
//! ([`candle_core::pickle::Stack`]), after [`check_pickle`] has bounded every length and the
//! total size of the objects the pickle builds by the pickle's own size. Every zip entry is read
//! whole, after its declared size is checked against the file's, with its checksum verified;
//! tensors are then cut out of their storage with checked arithmetic.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::ops::Range;
use std::path::Path;

use candle_core::pickle::{Object, Stack};
use candle_core::{DType, Device, Shape, Tensor};

use super::candle_message;
use crate::error::{ModelError, Result};

/// Pickle objects (counted in nodes plus string bytes) per pickle byte beyond which the pickle
/// is rejected: torch's pickles build about one per byte; memo references that copy objects
/// again and again (a "billion laughs") grow exponentially and pass this quickly.
const OBJECTS_PER_PICKLE_BYTE: u64 = 64;

/// Every tensor of the torch zip checkpoint `path`, open as `file` (`file_len` bytes long).
pub(super) fn read(path: &Path, file: File, file_len: u64) -> Result<HashMap<String, Tensor>> {
    let unreadable = |reason: String| ModelError::UnreadableCheckpoint {
        path: path.to_owned(),
        reason,
    };
    let mut archive = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| unreadable(format!("not a valid zip archive: {e}")))?;
    let pickle_name = (0..archive.len())
        .filter_map(|i| archive.name_for_index(i)?.ok())
        .find(|name| name.ends_with("data.pkl"))
        .map(|name| name.into_owned())
        .ok_or_else(|| unreadable("no data.pkl in the archive".into()))?;
    let prefix = pickle_name.strip_suffix("data.pkl").unwrap_or_default();
    // Stored entries do not overlap in a well-formed archive: together they fit in the file.
    let mut unread = file_len;
    let mut entry = |name: &str| -> Result<Vec<u8>> {
        let data = read_entry(&mut archive, name, unread)
            .map_err(|e| unreadable(format!("{name}: {e}")))?;
        unread -= data.len() as u64;
        Ok(data)
    };
    let pickle = entry(&pickle_name)?;
    check_pickle(&pickle).map_err(|e| unreadable(format!("{pickle_name}: {e}")))?;
    let mut stack = Stack::empty();
    stack
        .read_loop(&mut pickle.as_slice())
        .map_err(|e| unreadable(format!("{pickle_name}: {}", candle_message(e))))?;
    let object = stack
        .finalize()
        .map_err(|e| unreadable(format!("{pickle_name}: {}", candle_message(e))))?;

    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    // Identical records (a tensor saved under two names) share one tensor; distinct tensors
    // each hold their own bytes of the file, so together they fit in it.
    let mut views: HashMap<String, Tensor> = HashMap::new();
    let mut unclaimed = file_len as u128;
    let mut tensors = HashMap::new();
    for (name, value) in state_dict(object) {
        let Object::Unicode(name) = name else {
            continue;
        };
        let Some(record) =
            tensor_record(value).map_err(|e| unreadable(format!("tensor `{name}`: {e}")))?
        else {
            continue;
        };
        let view = format!("{record:?}");
        if let Some(tensor) = views.get(&view) {
            tensors.insert(name, tensor.clone());
            continue;
        }
        if !storages.contains_key(&record.storage) {
            let data = entry(&format!("{prefix}data/{}", record.storage))?;
            storages.insert(record.storage.clone(), data);
        }
        let storage = &storages[&record.storage];
        let range =
            record
                .byte_range(storage.len())
                .map_err(|needed| ModelError::TensorOutOfBounds {
                    path: path.to_owned(),
                    name: name.clone(),
                    needed,
                    available: storage.len() as u64,
                })?;
        let bytes = range.len() as u128;
        if bytes > unclaimed {
            return Err(unreadable(format!(
                "tensor `{name}`: its {bytes} bytes and the distinct tensors before it exceed \
                 the file's {file_len} bytes"
            )));
        }
        unclaimed -= bytes;
        let tensor = record
            .tensor(&storage[range])
            .map_err(|reason| unreadable(format!("tensor `{name}`: {reason}")))?;
        views.insert(view, tensor.clone());
        tensors.insert(name, tensor);
    }
    Ok(tensors)
}

/// The whole of entry `name`, its declared size checked against the `unread` bytes of the file
/// (not yet taken by other entries) before allocating, and its checksum verified (the zip
/// reader checks it at the end of the entry).
fn read_entry<R: Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    name: &str,
    unread: u64,
) -> std::result::Result<Vec<u8>, String> {
    let entry = archive.by_name(name).map_err(|e| e.to_string())?;
    let size = entry.size();
    if size > unread {
        return Err(format!(
            "declares {size} bytes, more than the {unread} of the file the entries read before it \
             leave"
        ));
    }
    let mut data = Vec::with_capacity(size as usize);
    entry
        .take(size + 1)
        .read_to_end(&mut data)
        .map_err(|e| e.to_string())?;
    if data.len() as u64 != size {
        return Err(format!("holds {} bytes, declares {size}", data.len()));
    }
    Ok(data)
}

/// The `(name, value)` pairs of the pickled state dict (none if it is not one), as candle reads
/// them: a dict, or the attributes of a scripted `__torch__` module.
fn state_dict(object: Object) -> Vec<(Object, Object)> {
    match object {
        Object::Dict(items) => items,
        Object::Build { callable, args } => match (*callable, *args) {
            (Object::Reduce { callable, .. }, Object::Dict(items))
                if matches!(&*callable, Object::Class { module_name, class_name }
                    if module_name == "__torch__" && class_name == "Module") =>
            {
                items
            }
            _ => vec![],
        },
        _ => vec![],
    }
}

/// Where a tensor's elements are: `torch._utils._rebuild_tensor_v2(storage, offset, size,
/// stride, ...)` with the storage `(_, class, key, location, numel)`.
#[derive(Debug)]
struct TensorRecord {
    storage: String,
    dtype: DType,
    offset: usize,
    dims: Vec<usize>,
    stride: Vec<usize>,
}

/// `object` for an error message: its start, on one line.
fn brief(object: &Object) -> String {
    let text = format!("{object:?}");
    match text.char_indices().nth(80) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text,
    }
}

fn is_class(object: &Object, module: &str, class: &str) -> bool {
    matches!(object, Object::Class { module_name, class_name }
        if module_name == module && class_name == class)
}

fn tuple(object: Object, what: &str, min_len: usize) -> std::result::Result<Vec<Object>, String> {
    match object {
        Object::Tuple(items) if items.len() >= min_len => Ok(items),
        other => Err(format!(
            "{what}: expected a tuple of at least {min_len}, got {}",
            brief(&other)
        )),
    }
}

fn non_negative(object: &Object, what: &str) -> std::result::Result<usize, String> {
    match *object {
        Object::Int(v) if v >= 0 => Ok(v as usize),
        Object::Long(v) if v >= 0 => Ok(v as usize),
        ref other => Err(format!(
            "{what}: expected a non-negative integer, got {}",
            brief(other)
        )),
    }
}

fn sizes(object: Object, what: &str) -> std::result::Result<Vec<usize>, String> {
    tuple(object, what, 0)?
        .iter()
        .map(|v| non_negative(v, what))
        .collect()
}

/// The record of a tensor value, `None` for values that are not tensors (e.g. `_metadata`).
fn tensor_record(value: Object) -> std::result::Result<Option<TensorRecord>, String> {
    let Object::Reduce { callable, args } = value else {
        return Ok(None);
    };
    let (callable, args) = if is_class(&callable, "torch._tensor", "_rebuild_from_type_v2") {
        // (func, type, args, state)
        let mut items = tuple(*args, "_rebuild_from_type_v2", 3)?.into_iter();
        let func = items.next().unwrap_or(Object::None);
        (func, items.nth(1).unwrap_or(Object::None))
    } else if is_class(&callable, "torch._utils", "_rebuild_parameter") {
        // (data, requires_grad, backward_hooks) with data itself a rebuild call
        match tuple(*args, "_rebuild_parameter", 1)?.swap_remove(0) {
            Object::Reduce { callable, args } => (*callable, *args),
            other => return Err(format!("_rebuild_parameter of {}", brief(&other))),
        }
    } else {
        (*callable, *args)
    };
    if !is_class(&callable, "torch._utils", "_rebuild_tensor_v2") {
        return Ok(None);
    }
    let mut args = tuple(args, "_rebuild_tensor_v2", 4)?.into_iter();
    let (storage, offset, dims, stride) = match (args.next(), args.next(), args.next(), args.next())
    {
        (Some(Object::PersistentLoad(storage)), Some(offset), Some(dims), Some(stride)) => {
            (*storage, offset, dims, stride)
        }
        _ => return Err("_rebuild_tensor_v2 without storage, offset, size and stride".into()),
    };
    let storage = tuple(storage, "storage", 5)?;
    let class = match &storage[1] {
        Object::Class { class_name, .. } => class_name.as_str(),
        other => return Err(format!("storage type {}", brief(other))),
    };
    let dtype = match class {
        "FloatStorage" => DType::F32,
        "DoubleStorage" => DType::F64,
        "HalfStorage" => DType::F16,
        "BFloat16Storage" => DType::BF16,
        "ByteStorage" => DType::U8,
        "LongStorage" => DType::I64,
        other => return Err(format!("unsupported storage type {other}")),
    };
    let Object::Unicode(key) = &storage[2] else {
        return Err(format!("storage key {}", brief(&storage[2])));
    };
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("storage key {}", brief(&storage[2])));
    }
    Ok(Some(TensorRecord {
        storage: key.clone(),
        dtype,
        offset: non_negative(&offset, "storage offset")?,
        dims: sizes(dims, "size")?,
        stride: sizes(stride, "stride")?,
    }))
}

impl TensorRecord {
    /// The bytes of the tensor's elements in its storage of `storage_len` bytes, or (saturating)
    /// the bytes it would need when it reaches past the end.
    fn byte_range(&self, storage_len: usize) -> std::result::Result<Range<usize>, u128> {
        let size = self.dtype.size_in_bytes() as u128;
        let end = self
            .dims
            .iter()
            .try_fold(1u128, |acc, &d| acc.checked_mul(d as u128))
            .and_then(|n| n.checked_add(self.offset as u128))
            .and_then(|n| n.checked_mul(size))
            .unwrap_or(u128::MAX);
        if end > storage_len as u128 {
            return Err(end);
        }
        // In bounds: the offset and every product of dimensions fit in usize.
        Ok(self.offset * self.dtype.size_in_bytes()..end as usize)
    }

    /// The tensor of `data`, its elements' bytes (see [`TensorRecord::byte_range`]);
    /// row-major and column-major layouts are accepted, as torch writes them.
    fn tensor(&self, data: &[u8]) -> std::result::Result<Tensor, String> {
        if self.stride.len() != self.dims.len() {
            return Err(format!(
                "{} strides for {} dimensions",
                self.stride.len(),
                self.dims.len()
            ));
        }
        let shape = Shape::from(self.dims.clone());
        let column_major = shape.elem_count() > 0
            && !shape.is_contiguous(&self.stride)
            && shape.is_fortran_contiguous(&self.stride);
        if shape.elem_count() > 0 && !shape.is_contiguous(&self.stride) && !column_major {
            return Err(format!(
                "non-contiguous layout: size {:?}, stride {:?}",
                self.dims, self.stride
            ));
        }
        let tensor = |dims: Vec<usize>| {
            Tensor::from_raw_buffer(data, self.dtype, &dims, &Device::Cpu).map_err(candle_message)
        };
        if column_major {
            let reversed: Vec<usize> = self.dims.iter().rev().copied().collect();
            let axes: Vec<usize> = (0..self.dims.len()).rev().collect();
            tensor(reversed)?.permute(axes).map_err(candle_message)
        } else {
            tensor(self.dims.clone())
        }
    }
}

/// Walks the pickle's opcodes (the subset candle reads) without building anything and checks
/// that every length fits in what is left of the pickle, that integers are at most 8 bytes
/// (candle shifts them into an `i64`), and that the objects built, counting memo copies, stay
/// within [`OBJECTS_PER_PICKLE_BYTE`] per byte. It stops early, leaving the error to candle, at
/// what candle stops at too: an unknown opcode or a memo id never stored.
fn check_pickle(pickle: &[u8]) -> std::result::Result<(), String> {
    const MARK: u64 = u64::MAX;
    let limit = OBJECTS_PER_PICKLE_BYTE * pickle.len() as u64 + 4096;
    let mut built: u64 = 0;
    let mut stack: Vec<u64> = Vec::new();
    let mut memo: HashMap<u32, u64> = HashMap::new();
    let mut at = 0usize;
    let take = |at: &mut usize, n: usize| -> std::result::Result<&[u8], String> {
        let bytes = pickle
            .get(*at..at.checked_add(n).unwrap_or(usize::MAX))
            .ok_or_else(|| format!("opcode argument of {n} bytes at {at} runs past the end"))?;
        *at += n;
        Ok(bytes)
    };
    let pop_to_mark = |stack: &mut Vec<u64>| -> Option<u64> {
        let mark = stack.iter().rposition(|&s| s == MARK)?;
        let sum = stack[mark + 1..]
            .iter()
            .fold(0u64, |a, &s| a.saturating_add(s));
        stack.truncate(mark);
        Some(sum)
    };
    let pop = |stack: &mut Vec<u64>, n: usize| -> Option<u64> {
        let mut sum = 0u64;
        for _ in 0..n {
            sum = sum.saturating_add(stack.pop().filter(|&s| s != MARK)?);
        }
        Some(sum)
    };
    while at < pickle.len() {
        let op = pickle[at];
        at += 1;
        // The size of the object the opcode pushes, if it pushes one.
        let pushed: Option<u64> = match op {
            b'.' => return Ok(()),
            0x80 => take(&mut at, 1).map(|_| None)?,
            b'c' => {
                let mut len = 0;
                for _ in 0..2 {
                    let line = pickle[at..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .ok_or("GLOBAL without its newline")?;
                    at += line + 1;
                    len += line as u64;
                }
                Some(1 + len)
            }
            b'X' => {
                let len = u32::from_le_bytes(take(&mut at, 4)?.try_into().unwrap_or_default());
                take(&mut at, len as usize)?;
                Some(1 + u64::from(len))
            }
            0x8a => {
                let n = take(&mut at, 1)?[0];
                if n > 8 {
                    return Err(format!("LONG1 of {n} bytes (at most 8 are supported)"));
                }
                take(&mut at, n as usize)?;
                Some(1)
            }
            b'K' => take(&mut at, 1).map(|_| Some(1))?,
            b'M' => take(&mut at, 2).map(|_| Some(1))?,
            b'J' => take(&mut at, 4).map(|_| Some(1))?,
            b'G' => take(&mut at, 8).map(|_| Some(1))?,
            b'q' | b'r' | b'h' | b'j' => {
                let id = if matches!(op, b'q' | b'h') {
                    u32::from(take(&mut at, 1)?[0])
                } else {
                    u32::from_le_bytes(take(&mut at, 4)?.try_into().unwrap_or_default())
                };
                if matches!(op, b'q' | b'r') {
                    let &last = stack
                        .last()
                        .filter(|&&s| s != MARK)
                        .ok_or("PUT without an object")?;
                    memo.insert(id, last);
                    built = built.saturating_add(last);
                    None
                } else {
                    // A missing id is an error candle reports.
                    let Some(&size) = memo.get(&id) else {
                        return Ok(());
                    };
                    Some(size)
                }
            }
            b'(' => {
                stack.push(MARK);
                None
            }
            b'N' | 0x88 | 0x89 | b')' | b']' | b'}' => Some(1),
            b't' | b'd' => Some(1 + pop_to_mark(&mut stack).ok_or("no mark")?),
            0x85..=0x87 => {
                Some(1 + pop(&mut stack, usize::from(op - 0x84)).ok_or("stack underflow")?)
            }
            b'Q' => Some(1 + pop(&mut stack, 1).ok_or("stack underflow")?),
            b'R' | b'b' | 0x81 => Some(1 + pop(&mut stack, 2).ok_or("stack underflow")?),
            b'a' | b's' | b'e' | b'u' => {
                let added = match op {
                    b'a' => pop(&mut stack, 1),
                    b's' => pop(&mut stack, 2),
                    _ => pop_to_mark(&mut stack),
                }
                .ok_or("stack underflow")?;
                let last = stack
                    .last_mut()
                    .filter(|s| **s != MARK)
                    .ok_or("nothing to add to")?;
                *last = last.saturating_add(added);
                None
            }
            // Unknown to candle, which rejects it.
            _ => return Ok(()),
        };
        if let Some(size) = pushed {
            built = built.saturating_add(size);
            stack.push(size);
        }
        if built > limit {
            return Err(format!(
                "builds objects of more than {limit} units from {} bytes (memo copies)",
                pickle.len()
            ));
        }
    }
    Err("no STOP opcode".into())
}

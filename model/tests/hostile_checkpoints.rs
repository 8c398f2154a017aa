//! Hand-built checkpoints that lie: torch zip records reaching past their storage, malformed
//! records, pickles announcing huge strings or integers or copying memoised objects
//! exponentially, and safetensors headers announcing huge tensors. Each must be a typed error
//! naming the file (and the tensor where one is at fault), without a panic or an allocation
//! beyond the file's size. (candle's own torch reader panics on the short record and the
//! 200-byte integer, and aborts allocating the 2^60-element tensor.)

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::scratch;
use vocos_model::checkpoint::Checkpoint;
use vocos_model::error::ModelError;

/// Pickle opcodes for the pieces of a `torch.save(state_dict)` pickle.
fn unicode(s: &str) -> Vec<u8> {
    let mut out = vec![b'X'];
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    out
}

fn int(v: i32) -> Vec<u8> {
    let mut out = vec![b'J'];
    out.extend_from_slice(&v.to_le_bytes());
    out
}

fn global(module: &str, class: &str) -> Vec<u8> {
    format!("c{module}\n{class}\n").into_bytes()
}

fn int_tuple(values: &[i32]) -> Vec<u8> {
    let mut out = vec![b'('];
    for &v in values {
        out.extend(int(v));
    }
    out.push(b't');
    out
}

/// A tensor record `name -> _rebuild_tensor_v2(storage "0" of `class` with `numel` elements,
/// offset, size, stride, False, OrderedDict())`, as torch writes it.
struct Record<'a> {
    class: &'a str,
    numel: i32,
    offset: i32,
    size: &'a [i32],
    stride: &'a [i32],
}

impl Record<'_> {
    fn pickle(&self, name: &str) -> Vec<u8> {
        state_dict(&[(name, self.args())])
    }

    /// The opcodes building the argument tuple of `_rebuild_tensor_v2`.
    fn args(&self) -> Vec<u8> {
        let mut args = vec![b'(', b'('];
        args.extend(unicode("storage"));
        args.extend(global("torch", self.class));
        args.extend(unicode("0"));
        args.extend(unicode("cpu"));
        args.extend(int(self.numel));
        args.extend([b't', b'Q']);
        args.extend(int(self.offset));
        args.extend(int_tuple(self.size));
        args.extend(int_tuple(self.stride));
        args.push(0x89);
        args.extend(global("collections", "OrderedDict"));
        args.extend([b')', b'R', b't']);
        args
    }
}

/// `{name: _rebuild_tensor_v2(*args), ...}` with `args` the opcodes building each argument
/// tuple.
fn state_dict(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![0x80, 2, b'}', b'('];
    for (name, args) in entries {
        out.extend(unicode(name));
        out.extend(global("torch._utils", "_rebuild_tensor_v2"));
        out.extend_from_slice(args);
        out.push(b'R');
    }
    out.extend([b'u', b'.']);
    out
}

/// A torch zip archive `archive/data.pkl` + `archive/data/0` written to `dir/name`.
fn torch_zip(dir: &Path, name: &str, pickle: &[u8], storage: &[f32]) -> PathBuf {
    let path = dir.join(name);
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("archive/data.pkl", options).unwrap();
    zip.write_all(pickle).unwrap();
    zip.start_file("archive/data/0", options).unwrap();
    for v in storage {
        zip.write_all(&v.to_le_bytes()).unwrap();
    }
    zip.finish().unwrap();
    path
}

const STORAGE: [f32; 6] = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];

fn record<'a>(size: &'a [i32], stride: &'a [i32]) -> Record<'a> {
    Record {
        class: "FloatStorage",
        numel: STORAGE.len() as i32,
        offset: 0,
        size,
        stride,
    }
}

fn load_err(path: &Path) -> ModelError {
    let err = Checkpoint::load(path)
        .err()
        .unwrap_or_else(|| panic!("{} loads", path.display()));
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "error does not name the file: {err}"
    );
    err
}

#[test]
fn well_formed_records_load_in_both_layouts() {
    let dir = scratch("hostile_torch_valid");
    let rows = torch_zip(
        &dir,
        "rows.bin",
        &record(&[2, 3], &[3, 1]).pickle("w"),
        &STORAGE,
    );
    let w = Checkpoint::load(&rows)
        .unwrap()
        .tensor("w", &[2, 3])
        .unwrap();
    assert_eq!(
        w.to_vec2::<f32>().unwrap(),
        [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    );
    // Column-major: element (i, j) at i + 2 j.
    let columns = torch_zip(
        &dir,
        "columns.bin",
        &record(&[2, 3], &[1, 2]).pickle("w"),
        &STORAGE,
    );
    let w = Checkpoint::load(&columns)
        .unwrap()
        .tensor("w", &[2, 3])
        .unwrap();
    assert_eq!(
        w.to_vec2::<f32>().unwrap(),
        [[0.0, 2.0, 4.0], [1.0, 3.0, 5.0]]
    );
}

#[test]
fn records_past_their_storage_are_out_of_bounds() {
    let dir = scratch("hostile_torch_bounds");
    let huge = 1 << 30;
    for (name, record) in [
        // 2^60 elements: 4 EiB announced by a file of a few hundred bytes.
        ("huge.bin", record(&[huge, huge], &[huge, 1])),
        ("long.bin", record(&[7], &[1])),
        (
            "offset.bin",
            Record {
                offset: 1,
                ..record(&[2, 3], &[3, 1])
            },
        ),
        (
            "max_offset.bin",
            Record {
                offset: i32::MAX,
                ..record(&[1], &[1])
            },
        ),
    ] {
        let path = torch_zip(&dir, name, &record.pickle("w"), &STORAGE);
        let err = load_err(&path);
        assert!(
            matches!(&err, ModelError::TensorOutOfBounds { name, available: 24, .. } if name == "w"),
            "{err}"
        );
    }
}

#[test]
fn distinct_views_of_one_storage_cannot_exceed_the_file() {
    let dir = scratch("hostile_torch_views");
    let storage = vec![0.5f32; 1 << 16];
    let numel = storage.len() as i32;
    let size = [numel - 64];
    let view = |offset: i32| Record {
        class: "FloatStorage",
        numel,
        offset,
        size: &size,
        stride: &[1],
    };
    // Tied weights, one record under two names: one tensor, loads.
    let tied = state_dict(&[("a", view(0).args()), ("b", view(0).args())]);
    let path = torch_zip(&dir, "tied.bin", &tied, &storage);
    let checkpoint = Checkpoint::load(&path).unwrap();
    assert_eq!(checkpoint.dims("b"), Some(&[storage.len() - 64][..]));
    // 64 distinct views of 256 KiB each: 16 MiB of tensors from a file of about 260 KiB.
    let names: Vec<String> = (0..64).map(|i| format!("w{i}")).collect();
    let entries: Vec<(&str, Vec<u8>)> = names
        .iter()
        .zip(0..)
        .map(|(name, offset)| (name.as_str(), view(offset).args()))
        .collect();
    let path = torch_zip(&dir, "views.bin", &state_dict(&entries), &storage);
    let err = load_err(&path);
    assert!(
        matches!(err, ModelError::UnreadableCheckpoint { .. })
            && err.to_string().contains("distinct tensors"),
        "{err}"
    );
}

#[test]
fn malformed_records_name_the_tensor() {
    let dir = scratch("hostile_torch_records");
    // (storage, offset) only: candle's reader indexes the missing size and stride.
    let mut short = vec![b'(', b'('];
    short.extend(unicode("storage"));
    short.extend(global("torch", "FloatStorage"));
    short.extend(unicode("0"));
    short.extend(unicode("cpu"));
    short.extend(int(6));
    short.extend([b't', b'Q']);
    short.extend(int(0));
    short.push(b't');
    let cases: [(&str, Vec<u8>, &str); 5] = [
        (
            "short.bin",
            state_dict(&[("w", short)]),
            "_rebuild_tensor_v2",
        ),
        (
            "negative.bin",
            record(&[2, -3], &[3, 1]).pickle("w"),
            "non-negative",
        ),
        (
            "strided.bin",
            record(&[2, 3], &[1, 1]).pickle("w"),
            "non-contiguous",
        ),
        ("rank.bin", record(&[2, 3], &[3]).pickle("w"), "strides for"),
        (
            "int.bin",
            Record {
                class: "IntStorage",
                ..record(&[6], &[1])
            }
            .pickle("w"),
            "IntStorage",
        ),
    ];
    for (file, pickle, reason) in cases {
        let path = torch_zip(&dir, file, &pickle, &STORAGE);
        let err = load_err(&path);
        let msg = err.to_string();
        assert!(
            matches!(err, ModelError::UnreadableCheckpoint { .. })
                && msg.contains("`w`")
                && msg.contains(reason),
            "{file}: {msg}"
        );
    }
}

#[test]
fn hostile_pickles_are_rejected_before_candle_runs_them() {
    let dir = scratch("hostile_torch_pickles");
    // A string of 4 GiB announced in a pickle of a few bytes.
    let mut huge_string = vec![0x80, 2, b'X'];
    huge_string.extend_from_slice(&u32::MAX.to_le_bytes());
    huge_string.extend_from_slice(b"abc.");
    // An integer of 200 bytes (candle shifts each byte into an i64).
    let mut long = vec![0x80, 2, 0x8a, 200];
    long.extend([1u8; 200]);
    long.push(b'.');
    // A list memoised, then 60 times a pair of two copies of the previous object: 2^60 nodes.
    let mut laughs = vec![0x80, 2, b']', b'q', 0];
    for _ in 0..60 {
        laughs.extend([b'h', 0, b'h', 0, 0x86, b'q', 0]);
    }
    laughs.push(b'.');
    for (file, pickle, reason) in [
        ("string.bin", huge_string, "runs past the end"),
        ("long.bin", long, "LONG1"),
        ("laughs.bin", laughs, "memo copies"),
        ("no_stop.bin", vec![0x80, 2, b'}'], "no STOP"),
    ] {
        let path = torch_zip(&dir, file, &pickle, &STORAGE);
        let err = load_err(&path);
        assert!(
            matches!(err, ModelError::UnreadableCheckpoint { .. })
                && err.to_string().contains(reason),
            "{file}: {err}"
        );
    }
}

#[test]
fn safetensors_announcing_a_huge_tensor_is_unreadable() {
    let dir = scratch("hostile_safetensors");
    let gib: u64 = 1 << 30;
    for (file, header) in [
        (
            "offsets.safetensors",
            format!(
                r#"{{"w":{{"dtype":"F32","shape":[{gib},16],"data_offsets":[0,{}]}}}}"#,
                64 * gib
            ),
        ),
        (
            "overflow.safetensors",
            format!(
                r#"{{"w":{{"dtype":"F32","shape":[{gib},{gib},{gib}],"data_offsets":[0,16]}}}}"#
            ),
        ),
    ] {
        let path = dir.join(file);
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&[0u8; 16]);
        std::fs::write(&path, bytes).unwrap();
        let err = load_err(&path);
        assert!(
            matches!(err, ModelError::UnreadableCheckpoint { .. }),
            "{file}: {err}"
        );
    }
}

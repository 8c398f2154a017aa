//! Seeded fuzzing of every loader with corrupt and hostile variants of the tiny fixtures:
//! truncation at every tensor boundary, byte flips in headers and data, headers announcing huge
//! tensors, wrong dtypes, NaN/Inf weights, wrong or broken configs, unreadable files and paths
//! that do not exist. Every mutation goes through `Encodec::load`, `Vocos::load` (on the
//! directory and on the weights file) and `Checkpoint::load`, each inside `catch_unwind` so a
//! panic is counted instead of ending the run. The test demands no panic, that every error the
//! mutation caused names the mutated file (or the missing path), and that a mutation which still
//! loads gives a sane model (see [`check_load`]).
//!
//! Run with `--nocapture` for the summary.

mod common;

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use common::{scratch, tiny};
use vocos_model::checkpoint::Checkpoint;
use vocos_model::encodec::Encodec;
use vocos_model::error::ModelError;
use vocos_model::vocos::Vocos;

const SEED: u64 = 0x5eed_0015;
/// Random byte flips per fixture in each of the header and the data region.
const FLIPS: usize = 24;

/// xorshift64*: small, seeded, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn in_range(&mut self, range: std::ops::Range<usize>) -> usize {
        range.start + self.below(range.len())
    }
}

struct Fixture {
    name: &'static str,
    weights: &'static str,
    config: &'static str,
}

const FIXTURES: [Fixture; 4] = [
    Fixture {
        name: "encodec_th",
        weights: "encodec_24khz.th",
        config: "config.json",
    },
    Fixture {
        name: "encodec_hf",
        weights: "model.safetensors",
        config: "config.json",
    },
    Fixture {
        name: "vocos_encodec",
        weights: "pytorch_model.bin",
        config: "config.yaml",
    },
    Fixture {
        name: "vocos_mel",
        weights: "pytorch_model.bin",
        config: "config.yaml",
    },
];

/// What a loader that reads the mutated file must do with it.
#[derive(Clone, Debug, PartialEq)]
enum Expect {
    /// An error naming the file.
    Error,
    /// A checkpoint, but not of a model: `Checkpoint::load` may read it, the model loaders
    /// give an error naming the file (e.g. integer weights).
    Unusable,
    /// `NonFiniteTensor` naming the file (and the tensor, when known).
    NonFinite(Option<String>),
    /// Only float values changed and they stay finite: the model loads.
    Loads,
    /// Either an error naming the file or a sane model; `same_values` when the mutation cannot
    /// change any weight (so a model that loads with the original config computes the original
    /// output bit for bit).
    Either { same_values: bool },
}

/// How the mutated file is put in place.
enum Content {
    Bytes(Vec<u8>),
    /// The original cut to this length (truncations come longest first and cut the file in
    /// place, so they cost no writes).
    Truncated(usize),
    /// A directory where the file should be.
    Directory,
    /// The original file with its permissions set to 000.
    #[cfg(unix)]
    NoPermission,
    /// A symbolic link to `/dev/zero`, which never ends.
    #[cfg(unix)]
    EndlessDevice,
    /// A named pipe without a writer (opening it for reading blocks).
    #[cfg(unix)]
    Fifo,
    /// The file is removed.
    Removed,
}

struct Mutation {
    kind: &'static str,
    /// The file or directory mutated (relative to the fixture directory).
    file: &'static str,
    content: Content,
    expect: Expect,
}

/// The loaders every mutation goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Loader {
    EncodecDir,
    EncodecFile,
    VocosDir,
    VocosFile,
    Checkpoint,
}

const LOADERS: [Loader; 5] = [
    Loader::EncodecDir,
    Loader::EncodecFile,
    Loader::VocosDir,
    Loader::VocosFile,
    Loader::Checkpoint,
];

/// A loaded model: its config (as text) and the output of a fixed input through it.
#[derive(Clone, Debug, PartialEq)]
struct Loaded {
    config: String,
    output: Vec<u32>,
}

#[derive(Debug)]
enum Outcome {
    Panic(String),
    Error(ModelError),
    Loaded(Loaded),
    /// Loaded, but the fixed-input run failed: why.
    Insane(String),
}

fn sine(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| 0.5 * (i as f32 * 0.05).sin() + 0.1 * (i as f32 * 0.31).sin())
        .collect()
}

/// Encodes a fixed signal; checks the codes' shape and range. The codes are the fingerprint.
fn run_encodec(model: &Encodec) -> Result<Loaded, String> {
    let audio = sine(2400);
    let config = model.config();
    let kbps = config.target_bandwidths[0];
    let codes = model.encode(&audio, kbps).map_err(|e| e.to_string())?;
    let frames = audio.len().div_ceil(config.hop_length());
    let rows = model.codebooks_for(kbps).map_err(|e| e.to_string())?;
    if codes.rows.len() != rows
        || codes
            .rows
            .iter()
            .any(|r| r.len() != frames || r.iter().any(|&c| c as usize >= config.codebook_size))
    {
        return Err(format!("codes of the wrong shape or range: {codes:?}"));
    }
    Ok(Loaded {
        config: format!("{config:?}"),
        output: codes.rows.concat(),
    })
}

/// Decodes fixed codes (EnCodec variant) or resynthesises a fixed signal (mel variant); checks
/// the output length. The output's bits are the fingerprint.
fn run_vocos(model: &Vocos) -> Result<Loaded, String> {
    let hop = model.config.hop();
    let (audio, frames) = if model.is_mel() {
        let audio = sine(10 * hop);
        let frames = 1 + audio.len() / hop;
        (model.resynthesize_mel(&audio), frames)
    } else {
        let frames = 8;
        let rows = model.codebooks_for_id(0).map_err(|e| e.to_string())?;
        let codes: Vec<Vec<u32>> = (0..rows)
            .map(|q| {
                (0..frames)
                    .map(|t| ((q * 7 + t * 13) % 1024) as u32)
                    .collect()
            })
            .collect();
        (model.decode_codes(&codes, 0), frames)
    };
    let audio = audio.map_err(|e| e.to_string())?;
    let expected = if model.config.head.padding == "center" {
        (frames - 1) * hop
    } else {
        frames * hop
    };
    if audio.len() != expected {
        return Err(format!("{} samples, expected {expected}", audio.len()));
    }
    Ok(Loaded {
        config: format!("{:?}", model.config),
        output: audio.iter().map(|v| v.to_bits()).collect(),
    })
}

fn run(loader: Loader, dir: &Path, weights: &Path) -> Outcome {
    type Run = Result<Result<Loaded, String>, ModelError>;
    let result = catch_unwind(AssertUnwindSafe(|| -> Run {
        Ok(match loader {
            Loader::EncodecDir => run_encodec(&*Encodec::load(dir)?),
            Loader::EncodecFile => run_encodec(&*Encodec::load(weights)?),
            Loader::VocosDir => run_vocos(&*Vocos::load(dir)?),
            Loader::VocosFile => run_vocos(&*Vocos::load(weights)?),
            Loader::Checkpoint => {
                let checkpoint = Checkpoint::load(weights)?;
                let mut names: Vec<&str> = checkpoint.names().collect();
                names.sort();
                Ok(Loaded {
                    config: names.join(","),
                    output: vec![],
                })
            }
        })
    }));
    match result {
        Ok(Ok(Ok(loaded))) => Outcome::Loaded(loaded),
        Ok(Ok(Err(reason))) => Outcome::Insane(reason),
        Ok(Err(e)) => Outcome::Error(e),
        Err(payload) => Outcome::Panic(
            payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default(),
        ),
    }
}

/// The variant name of an error, for the summary.
fn kind(e: &ModelError) -> String {
    format!("{e:?}")
        .split([' ', '('])
        .next()
        .unwrap_or_default()
        .to_owned()
}

// ---- file formats ----

/// Safetensors layout: header length, parsed header, and each tensor's absolute byte range.
struct Safetensors {
    header_len: usize,
    header: serde_json::Map<String, serde_json::Value>,
    tensors: Vec<(String, String, std::ops::Range<usize>)>,
}

fn parse_safetensors(bytes: &[u8]) -> Safetensors {
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let mut tensors: Vec<_> = header
        .iter()
        .filter(|(name, _)| *name != "__metadata__")
        .map(|(name, info)| {
            let offsets = &info["data_offsets"];
            let start = 8 + header_len + offsets[0].as_u64().unwrap() as usize;
            let end = 8 + header_len + offsets[1].as_u64().unwrap() as usize;
            let dtype = info["dtype"].as_str().unwrap().to_owned();
            (name.clone(), dtype, start..end)
        })
        .collect();
    tensors.sort_by_key(|(_, _, range)| range.start);
    Safetensors {
        header_len,
        header,
        tensors,
    }
}

/// A safetensors file with `header` and the data of `original`.
fn with_header(
    original: &[u8],
    st: &Safetensors,
    header: &serde_json::Map<String, serde_json::Value>,
) -> Vec<u8> {
    let json = serde_json::to_vec(header).unwrap();
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&json);
    out.extend_from_slice(&original[8 + st.header_len..]);
    out
}

/// One zip entry: name and the byte ranges of its local header and its data.
struct ZipEntry {
    name: String,
    header: std::ops::Range<usize>,
    data: std::ops::Range<usize>,
}

fn zip_entries(bytes: &[u8]) -> Vec<ZipEntry> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let file = archive.by_index_raw(i).unwrap();
            let start = file.header_start() as usize;
            let data = file.data_start().unwrap() as usize;
            ZipEntry {
                name: file.name().unwrap().into_owned(),
                header: start..data,
                data: data..data + file.compressed_size() as usize,
            }
        })
        .collect()
}

/// The archive `bytes` with entry `name` replaced by `content` (checksums recomputed).
fn rewrite_zip_entry(bytes: &[u8], name: &str, content: &[u8]) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for i in 0..archive.len() {
        let file = archive.by_index_raw(i).unwrap();
        if file.name().unwrap() == name {
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored);
            drop(file);
            writer.start_file(name, options).unwrap();
            writer.write_all(content).unwrap();
        } else {
            writer.raw_copy_file(file).unwrap();
        }
    }
    writer.finish().unwrap().into_inner()
}

fn zip_entry(bytes: &[u8], name: &str) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut out = Vec::new();
    archive
        .by_name(name)
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn flip(bytes: &[u8], at: usize, rng: &mut Rng) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at] ^= 1 + rng.below(255) as u8;
    out
}

// ---- mutations ----

fn weight_mutations(fixture: &Fixture, bytes: &[u8], rng: &mut Rng) -> Vec<Mutation> {
    let file = fixture.weights;
    let mut out = Vec::new();
    let mut push = |kind, content: Vec<u8>, expect| {
        out.push(Mutation {
            kind,
            file,
            content: Content::Bytes(content),
            expect,
        })
    };
    let mut cuts = vec![0, 1, bytes.len() - 1];
    if bytes.starts_with(b"PK") {
        let entries = zip_entries(bytes);
        let pkl = entries
            .iter()
            .find(|e| e.name.ends_with("data.pkl"))
            .unwrap();
        let storages: Vec<&ZipEntry> = entries
            .iter()
            .filter(|e| e.name.contains("/data/") && !e.data.is_empty())
            .collect();
        for e in &entries {
            cuts.extend([e.header.start, e.data.start, e.data.end]);
        }
        for _ in 0..3 {
            cuts.push(rng.below(bytes.len()));
        }
        // Headers: the pickle, local headers, the central directory.
        let central = entries.iter().map(|e| e.data.end).max().unwrap()..bytes.len();
        for i in 0..FLIPS {
            let at = match i % 3 {
                0 => rng.in_range(pkl.data.clone()),
                1 => {
                    let entry = &entries[rng.below(entries.len())];
                    rng.in_range(entry.header.clone())
                }
                _ => rng.in_range(central.clone()),
            };
            // A flip in the archive's bookkeeping may be harmless (e.g. a timestamp).
            push(
                "flip torch header",
                flip(bytes, at, rng),
                Expect::Either { same_values: true },
            );
        }
        for _ in 0..FLIPS {
            let storage = storages[rng.below(storages.len())];
            // The entry's checksum no longer matches.
            push(
                "flip torch data",
                flip(bytes, rng.in_range(storage.data.clone()), rng),
                Expect::Error,
            );
        }
        for value in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let storage = storages[rng.below(storages.len())];
            let mut data = zip_entry(bytes, &storage.name);
            let at = 4 * rng.below(data.len() / 4);
            data[at..at + 4].copy_from_slice(&value.to_le_bytes());
            push(
                "non-finite torch weight",
                rewrite_zip_entry(bytes, &storage.name, &data),
                Expect::NonFinite(None),
            );
        }
        let pickle = zip_entry(bytes, &pkl.name);
        for (class, expect) in [
            // Half the bytes per element: values change, shapes stay.
            ("HalfStorage", Expect::Either { same_values: false }),
            // Twice the bytes per element: storages are too short, and not floats anyway.
            ("LongStorage", Expect::Unusable),
            ("ByteStorage", Expect::Unusable),
            ("IntStorage", Expect::Unusable),
            ("ComplexFloatStorage", Expect::Unusable),
        ] {
            let needle: &[u8] = b"torch\nFloatStorage\n";
            let replacement = format!("torch\n{class}\n");
            let at = pickle
                .windows(needle.len())
                .position(|w| w == needle)
                .unwrap();
            let mut changed = pickle[..at].to_vec();
            changed.extend_from_slice(replacement.as_bytes());
            changed.extend_from_slice(&pickle[at + needle.len()..]);
            push(
                "torch dtype",
                rewrite_zip_entry(bytes, &pkl.name, &changed),
                expect,
            );
        }
        for _ in 0..4 {
            let mut changed = pickle.clone();
            let at = rng.below(changed.len());
            changed[at] ^= 1 + rng.below(255) as u8;
            push(
                "flip pickle (valid crc)",
                rewrite_zip_entry(bytes, &pkl.name, &changed),
                Expect::Either { same_values: true },
            );
        }
        for &n in &[0, 1, pickle.len() / 2, pickle.len() - 1] {
            push(
                "truncated pickle (valid crc)",
                rewrite_zip_entry(bytes, &pkl.name, &pickle[..n]),
                Expect::Error,
            );
        }
        let storage = storages[rng.below(storages.len())];
        let data = zip_entry(bytes, &storage.name);
        push(
            "short storage (valid crc)",
            rewrite_zip_entry(bytes, &storage.name, &data[..data.len() - 4]),
            Expect::Error,
        );
    } else {
        let st = parse_safetensors(bytes);
        for (_, _, range) in &st.tensors {
            cuts.extend([range.start, range.end]);
        }
        cuts.extend([8, 8 + st.header_len]);
        let data = 8 + st.header_len..bytes.len();
        for _ in 0..FLIPS {
            // Harmless flips exist (e.g. in `__metadata__` or whitespace).
            let at = rng.below(8 + st.header_len);
            push(
                "flip safetensors header",
                flip(bytes, at, rng),
                Expect::Either { same_values: true },
            );
        }
        for _ in 0..FLIPS {
            let at = rng.in_range(data.clone());
            let flipped = flip(bytes, at, rng);
            let (name, _, range) = st.tensors.iter().find(|(_, _, r)| r.contains(&at)).unwrap();
            let word = at - (at - range.start) % 4;
            let value = f32::from_le_bytes(flipped[word..word + 4].try_into().unwrap());
            let expect = if value.is_finite() {
                Expect::Loads
            } else {
                Expect::NonFinite(Some(name.clone()))
            };
            push("flip safetensors data", flipped, expect);
        }
        for value in [f32::NAN, f32::INFINITY] {
            let (name, _, range) = &st.tensors[rng.below(st.tensors.len())];
            let mut changed = bytes.to_vec();
            let at = range.start + 4 * rng.below(range.len() / 4);
            changed[at..at + 4].copy_from_slice(&value.to_le_bytes());
            push(
                "non-finite safetensors weight",
                changed,
                Expect::NonFinite(Some(name.clone())),
            );
        }
        let (victim, _, range) = st.tensors[rng.below(st.tensors.len())].clone();
        let start = range.start - 8 - st.header_len;
        let header_with = |info: serde_json::Value| {
            let mut header = st.header.clone();
            header.insert(victim.clone(), info);
            with_header(bytes, &st, &header)
        };
        let gib = 1u64 << 30;
        let shape = st.header[&victim]["shape"].clone();
        for (kind, info, expect) in [
            (
                "huge tensor",
                serde_json::json!({"dtype": "F32", "shape": [gib, 16],
                    "data_offsets": [start, start as u64 + 64 * gib]}),
                Expect::Error,
            ),
            (
                "huge tensor",
                serde_json::json!({"dtype": "F32", "shape": [u64::MAX / 2, 4],
                    "data_offsets": [start, start + 16]}),
                Expect::Error,
            ),
            (
                "huge tensor",
                serde_json::json!({"dtype": "F32", "shape": [gib, gib, gib],
                    "data_offsets": [start, u64::MAX]}),
                Expect::Error,
            ),
            (
                "wrong dtype",
                serde_json::json!({"dtype": "I32", "shape": shape,
                    "data_offsets": [start, start + range.len()]}),
                Expect::Unusable,
            ),
            (
                "wrong dtype",
                serde_json::json!({"dtype": "I64", "shape": [range.len() / 8],
                    "data_offsets": [start, start + range.len() / 8 * 8]}),
                Expect::Unusable,
            ),
            (
                "wrong dtype",
                serde_json::json!({"dtype": "F16", "shape": shape,
                    "data_offsets": [start, start + range.len() / 2]}),
                Expect::Either { same_values: false },
            ),
            (
                "wrong dtype",
                serde_json::json!({"dtype": "F4", "shape": [range.len() * 2],
                    "data_offsets": [start, start + range.len()]}),
                Expect::Unusable,
            ),
            (
                "wrong dtype",
                serde_json::json!({"dtype": "BOOL", "shape": [range.len()],
                    "data_offsets": [start, start + range.len()]}),
                Expect::Error,
            ),
        ] {
            push(kind, header_with(info), expect);
        }
        let mut huge_len = bytes.to_vec();
        huge_len[..8].copy_from_slice(&(u64::MAX - 7).to_le_bytes());
        push("huge header length", huge_len, Expect::Error);
    }
    cuts.sort_unstable_by(|a, b| b.cmp(a));
    cuts.dedup();
    out.extend(
        cuts.into_iter()
            .filter(|&c| c < bytes.len())
            .map(|cut| Mutation {
                kind: "truncated",
                file,
                content: Content::Truncated(cut),
                expect: Expect::Error,
            }),
    );
    out
}

/// `text` (JSON) with top-level `key` set to `value` (JSON text).
fn set_json(text: &str, key: &str, value: &str) -> String {
    let mut json: serde_json::Value = serde_json::from_str(text).unwrap();
    json[key] = serde_json::from_str(value).unwrap();
    json.to_string()
}

/// `text` (YAML) with the value on the first (or last) line `key: ...` (or `- ...` for `-`)
/// replaced by `value`; `None` if there is no such line (or first and last are the same).
fn set_yaml(text: &str, key: &str, last: bool, value: &str) -> Option<String> {
    let prefix = if key == "-" {
        "- ".to_owned()
    } else {
        format!("{key}:")
    };
    let lines: Vec<&str> = text.lines().collect();
    let matching: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].trim_start().starts_with(&prefix))
        .collect();
    let i = if last {
        *matching.last()?
    } else {
        *matching.first()?
    };
    if last && matching.len() < 2 {
        return None;
    }
    let indent = &lines[i][..lines[i].len() - lines[i].trim_start().len()];
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    out[i] = if key == "-" {
        format!("{indent}- {value}")
    } else {
        format!("{indent}{key}: {value}")
    };
    Some(out.join("\n") + "\n")
}

fn config_mutations(fixture: &Fixture, text: &str, rng: &mut Rng) -> Vec<Mutation> {
    let file = fixture.config;
    let mut out = Vec::new();
    let mut push = |kind, content: Vec<u8>, expect| {
        out.push(Mutation {
            kind,
            file,
            content: Content::Bytes(content),
            expect,
        })
    };
    push("empty config", vec![], Expect::Error);
    push(
        "garbage config",
        b"\x00\xff\xfe garbage {[".to_vec(),
        Expect::Error,
    );
    for n in [text.len() / 4, text.len() / 2, 3 * text.len() / 4] {
        push(
            "truncated config",
            text.as_bytes()[..n].to_vec(),
            Expect::Error,
        );
    }
    // Another model's config.
    for other in [
        "encodec_hf/config.json",
        "vocos_encodec/config.yaml",
        "vocos_mel/config.yaml",
    ] {
        // Both EnCodec fixtures are one model; each Vocos fixture is its own.
        let same_model = other.starts_with(fixture.name)
            || (other.starts_with("encodec") && fixture.name.starts_with("encodec"));
        if same_model {
            continue;
        }
        push(
            "config of another model",
            std::fs::read(tiny(other)).unwrap(),
            Expect::Error,
        );
    }
    let edited: Vec<String> = if file == "config.json" {
        [
            (
                "hidden_size",
                &["-4", "0", "1000000000000", "18446744073709551615"][..],
            ),
            ("num_filters", &["-1", "4611686018427387904", "3.5"]),
            ("codebook_size", &["1", "1000000000000000"]),
            (
                "upsampling_ratios",
                &["[0, 5]", "[1000000000, 1000000000, 8]", "[]"],
            ),
            ("target_bandwidths", &["[1e30]", "[-1]", "[\"x\"]", "[]"]),
            ("num_lstm_layers", &["1000000000", "0"]),
            ("kernel_size", &["1000000000000"]),
            ("sampling_rate", &["0", "-24000"]),
        ]
        .iter()
        .flat_map(|(key, values)| values.iter().map(|v| set_json(text, key, v)))
        .collect()
    } else {
        [
            (
                "dim",
                &["-32", "0", "1000000000000", "18446744073709551615", "x"][..],
            ),
            ("intermediate_dim", &["1000000000000"]),
            ("num_layers", &["1000000000", "-1"]),
            (
                "n_fft",
                &["0", "4611686018427387904", "1000000001", "1000000000"],
            ),
            ("hop_length", &["0", "1000000000000"]),
            ("n_mels", &["1000000000", "0"]),
            ("input_channels", &["1000000000000"]),
            ("sample_rate", &["0", "1e300"]),
            ("adanorm_num_embeddings", &["1000000000"]),
            ("-", &["1.0e30", "-3.0", ".nan", "0.0"]),
            ("padding", &["sideways"]),
        ]
        .iter()
        .flat_map(|(key, values)| {
            values.iter().flat_map(move |v| {
                [false, true]
                    .into_iter()
                    .filter_map(move |last| set_yaml(text, key, last, v))
            })
        })
        .collect()
    };
    for text in edited {
        push(
            "wrong number in config",
            text.into_bytes(),
            Expect::Either { same_values: false },
        );
    }
    for _ in 0..6 {
        let at = rng.below(text.len());
        push(
            "flip config",
            flip(text.as_bytes(), at, rng),
            Expect::Either { same_values: false },
        );
    }
    out
}

fn file_mutations(fixture: &Fixture) -> Vec<Mutation> {
    let mut out = Vec::new();
    for file in [fixture.weights, fixture.config] {
        let mut unreadable = vec![("directory instead of file", Content::Directory)];
        #[cfg(unix)]
        unreadable.extend([
            ("no permission", Content::NoPermission),
            ("link to /dev/zero", Content::EndlessDevice),
            ("named pipe", Content::Fifo),
        ]);
        for (kind, content) in unreadable {
            out.push(Mutation {
                kind,
                file,
                content,
                expect: Expect::Error,
            });
        }
    }
    out.push(Mutation {
        kind: "weights removed",
        file: fixture.weights,
        content: Content::Removed,
        expect: Expect::Error,
    });
    out
}

// ---- the run ----

/// Puts `content` where the original file `target` is.
fn put(content: &Content, target: &Path) {
    match content {
        Content::Bytes(bytes) => std::fs::write(target, bytes).unwrap(),
        Content::Truncated(len) => {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(target)
                .unwrap();
            file.set_len(*len as u64).unwrap();
        }
        Content::Directory => {
            std::fs::remove_file(target).unwrap();
            std::fs::create_dir(target).unwrap();
        }
        Content::Removed => std::fs::remove_file(target).unwrap(),
        #[cfg(unix)]
        Content::NoPermission => {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o000)).unwrap();
        }
        #[cfg(unix)]
        Content::EndlessDevice => {
            std::fs::remove_file(target).unwrap();
            std::os::unix::fs::symlink("/dev/zero", target).unwrap();
        }
        #[cfg(unix)]
        Content::Fifo => {
            std::fs::remove_file(target).unwrap();
            let made = std::process::Command::new("mkfifo")
                .arg(target)
                .status()
                .unwrap();
            assert!(made.success(), "mkfifo {}", target.display());
        }
    }
}

#[derive(Default)]
struct Summary {
    mutations: usize,
    by_kind: BTreeMap<&'static str, usize>,
    runs: usize,
    panics: Vec<String>,
    failures: Vec<String>,
    errors: BTreeMap<String, usize>,
    /// The first message of each kind, for the summary.
    examples: BTreeMap<String, String>,
    loads: BTreeMap<&'static str, usize>,
    unaffected: usize,
    root_readable: usize,
}

impl Summary {
    fn fail(&mut self, what: String) {
        self.failures.push(what);
    }
}

/// Checks the outcome of `loader` on a mutation against the unmutated fixture's `baseline`.
/// Whether `loader` reads `file` (of a fixture directory): the weights, or its own config.
fn reads(loader: Loader, file: &str, fixture: &Fixture) -> bool {
    file == fixture.weights
        || match loader {
            Loader::EncodecDir | Loader::EncodecFile => file == "config.json",
            Loader::VocosDir | Loader::VocosFile => file == "config.yaml",
            Loader::Checkpoint => false,
        }
}

/// Whether two outcomes are the same load or the same error.
fn same_outcome(a: &Outcome, b: &Outcome) -> bool {
    match (a, b) {
        (Outcome::Loaded(a), Outcome::Loaded(b)) => a == b,
        (Outcome::Error(a), Outcome::Error(b)) => a.to_string() == b.to_string(),
        _ => false,
    }
}

fn check(
    summary: &mut Summary,
    label: &str,
    loader: Loader,
    mutation: &Mutation,
    target: &Path,
    baseline: &Outcome,
    outcome: Outcome,
) {
    summary.runs += 1;
    // Without its weights file a directory is `NoWeightsInDir`, which names the directory.
    let no_weights = matches!(mutation.content, Content::Removed)
        && matches!(loader, Loader::EncodecDir | Loader::VocosDir);
    let target = if no_weights {
        target.parent().unwrap()
    } else {
        target
    };
    let target_name = target.display().to_string();
    match (outcome, baseline) {
        (Outcome::Panic(msg), _) => summary.panics.push(format!("{label}: {msg}")),
        (Outcome::Insane(reason), _) => summary.fail(format!("{label}: loads, but {reason}")),
        (_, Outcome::Panic(msg)) => summary.panics.push(format!("{label} baseline: {msg}")),
        (_, Outcome::Insane(reason)) => summary.fail(format!("{label} baseline: {reason}")),
        // The loader never got as far as the mutated file (e.g. EnCodec on a Vocos directory).
        (Outcome::Error(e), Outcome::Error(b)) if e.to_string() == b.to_string() => {
            summary.unaffected += 1
        }
        (Outcome::Error(e), _) => {
            let msg = e.to_string();
            *summary.errors.entry(kind(&e)).or_default() += 1;
            summary
                .examples
                .entry(kind(&e))
                .or_insert_with(|| msg.clone());
            if !msg.contains(&target_name) {
                summary.fail(format!("{label}: error does not name {target_name}: {msg}"));
            }
            // The CLI prints it as one line.
            if msg.contains('\n') || msg.len() > 1000 {
                summary.fail(format!("{label}: not one short line: {msg}"));
            }
            if no_weights && !matches!(e, ModelError::NoWeightsInDir { .. }) {
                summary.fail(format!("{label}: expected NoWeightsInDir: {msg}"));
            }
            match &mutation.expect {
                Expect::Loads if matches!(baseline, Outcome::Loaded(_)) => {
                    summary.fail(format!("{label}: finite data change rejected: {msg}"))
                }
                Expect::NonFinite(name) if matches!(baseline, Outcome::Loaded(_)) => {
                    let named = name.as_ref().is_none_or(|n| msg.contains(n.as_str()));
                    if !matches!(e, ModelError::NonFiniteTensor { .. }) || !named {
                        summary.fail(format!("{label}: expected NonFiniteTensor {name:?}: {msg}"))
                    }
                }
                _ => {}
            }
        }
        (Outcome::Loaded(_), Outcome::Error(b)) => {
            summary.fail(format!("{label}: loads, but the original fails with {b}"))
        }
        (Outcome::Loaded(loaded), Outcome::Loaded(original)) => {
            *summary.loads.entry(mutation.kind).or_default() += 1;
            check_load(summary, label, loader, &mutation.expect, &loaded, original);
        }
    }
}

/// A mutation that loads must give a sane model: one whose fixed-input run succeeds with
/// output of the shape its config implies (codes in range), and, when the mutation cannot
/// have changed a weight and the config is the original, exactly the original output. Weights
/// that loaded are finite (NaN/Inf anywhere in a file is `NonFiniteTensor`); a finite flip may
/// still make huge outputs, which is not the loader's to judge.
fn check_load(
    summary: &mut Summary,
    label: &str,
    loader: Loader,
    expect: &Expect,
    loaded: &Loaded,
    original: &Loaded,
) {
    match expect {
        Expect::Unusable if loader == Loader::Checkpoint => {}
        Expect::Error | Expect::NonFinite(_) | Expect::Unusable => {
            summary.fail(format!("{label}: loads, expected an error ({expect:?})"))
        }
        Expect::Either { same_values: true }
            if loaded.config == original.config && loaded.output != original.output =>
        {
            summary.fail(format!(
                "{label}: loads with the original config but computes differently"
            ))
        }
        _ => {}
    }
}

#[test]
fn corrupt_and_hostile_files_give_errors_naming_them() {
    let mut rng = Rng(SEED);
    let mut summary = Summary::default();
    let root = scratch("loader_fuzz");
    for fixture in &FIXTURES {
        let dir = root.join(fixture.name);
        std::fs::create_dir_all(&dir).unwrap();
        for file in [fixture.weights, fixture.config] {
            std::fs::copy(tiny(&format!("{}/{file}", fixture.name)), dir.join(file)).unwrap();
        }
        let weights = dir.join(fixture.weights);
        let baseline: Vec<Outcome> = LOADERS.iter().map(|&l| run(l, &dir, &weights)).collect();
        let own = if fixture.name.starts_with("encodec") {
            Loader::EncodecDir
        } else {
            Loader::VocosDir
        };
        assert!(
            matches!(baseline[own as usize], Outcome::Loaded(_)),
            "{}: the fixture must load: {:?}",
            fixture.name,
            baseline[own as usize]
        );
        let weight_bytes = std::fs::read(&weights).unwrap();
        let config_text = std::fs::read_to_string(dir.join(fixture.config)).unwrap();
        let mutations = weight_mutations(fixture, &weight_bytes, &mut rng)
            .into_iter()
            .chain(config_mutations(fixture, &config_text, &mut rng))
            .chain(file_mutations(fixture));
        // The weights are cut in place by a run of truncations, restored after it.
        let mut truncated = false;
        for (i, mutation) in mutations.enumerate() {
            summary.mutations += 1;
            *summary.by_kind.entry(mutation.kind).or_default() += 1;
            let target = dir.join(mutation.file);
            let original = if mutation.file == fixture.weights {
                &weight_bytes
            } else {
                config_text.as_bytes()
            };
            let truncating = matches!(mutation.content, Content::Truncated(_));
            if truncated && !truncating {
                std::fs::write(&weights, &weight_bytes).unwrap();
            }
            put(&mutation.content, &target);
            truncated = truncating;
            // As root, mode 000 does not stop reading: then the file is intact and must load.
            #[cfg(unix)]
            let root_reads = matches!(mutation.content, Content::NoPermission)
                && std::fs::File::open(&target).is_ok();
            #[cfg(not(unix))]
            let root_reads = false;
            for (l, &loader) in LOADERS.iter().enumerate() {
                let label = format!(
                    "{} #{i} {} {} {loader:?}",
                    fixture.name, mutation.kind, mutation.file
                );
                let outcome = run(loader, &dir, &weights);
                // A file the loader does not read (or, as root, one mode 000 does not stop it
                // reading) must not change what it does.
                if root_reads || !reads(loader, mutation.file, fixture) {
                    summary.root_readable += usize::from(root_reads);
                    summary.unaffected += 1;
                    if !same_outcome(&outcome, &baseline[l]) {
                        summary.fail(format!(
                            "{label}: file not read, different outcome {outcome:?}"
                        ));
                    }
                    continue;
                }
                check(
                    &mut summary,
                    &label,
                    loader,
                    &mutation,
                    &target,
                    &baseline[l],
                    outcome,
                );
            }
            match &mutation.content {
                Content::Directory => std::fs::remove_dir(&target).unwrap(),
                Content::Bytes(_) | Content::Truncated(_) | Content::Removed => {}
                #[cfg(unix)]
                _ => std::fs::remove_file(&target).unwrap(),
            }
            if !truncated {
                std::fs::write(&target, original).unwrap();
            }
        }
    }
    println!(
        "loader fuzz (seed {SEED:#x}): {} mutations, {} loader runs",
        summary.mutations, summary.runs
    );
    println!("  mutations by kind: {:?}", summary.by_kind);
    println!("  panics: {}", summary.panics.len());
    println!("  errors by kind: {:?}", summary.errors);
    println!(
        "  loads that succeeded (sane), by mutation: {:?}",
        summary.loads
    );
    println!(
        "  runs the mutation did not affect (file not read, or the original's error): {}",
        summary.unaffected
    );
    if summary.root_readable > 0 {
        println!(
            "  chmod 000 did not stop reading (running as root): {} runs checked against the original",
            summary.root_readable
        );
    }
    for (kind, example) in &summary.examples {
        println!("  e.g. {kind}: {example}");
    }
    for p in &summary.panics {
        println!("PANIC {p}");
    }
    for f in &summary.failures {
        println!("FAIL {f}");
    }
    assert!(summary.panics.is_empty(), "{} panics", summary.panics.len());
    assert!(
        summary.failures.is_empty(),
        "{} failures",
        summary.failures.len()
    );
}

#[test]
fn missing_paths_are_named() {
    let root = scratch("loader_fuzz_missing");
    let nowhere = root.join("nowhere/");
    let nowhere_name = format!("{}/", root.join("nowhere").display());
    for (what, err) in [
        ("Vocos::load", Vocos::load(&nowhere).err()),
        ("Encodec::load", Encodec::load(&nowhere).err()),
    ] {
        let err = err.unwrap_or_else(|| panic!("{what} loads from a missing path"));
        let msg = err.to_string();
        assert!(
            matches!(&err, ModelError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
                && msg.contains(&nowhere_name)
                && !msg.contains("config"),
            "{what}: {msg}"
        );
    }
    let file = root.join("nowhere/pytorch_model.bin");
    for err in [
        Vocos::load(&file).err().unwrap(),
        Encodec::load(&file).err().unwrap(),
        Checkpoint::load(&file).err().unwrap(),
    ] {
        assert!(
            matches!(&err, ModelError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
                && err.to_string().contains(&file.display().to_string()),
            "{err}"
        );
    }
    // An existing directory without weights.
    let empty: PathBuf = scratch("loader_fuzz_empty");
    std::fs::copy(tiny("vocos_mel/config.yaml"), empty.join("config.yaml")).unwrap();
    assert!(matches!(
        Vocos::load(&empty),
        Err(ModelError::NoWeightsInDir { .. })
    ));
    assert!(matches!(
        Encodec::load(&empty),
        Err(ModelError::NoWeightsInDir { .. })
    ));
}

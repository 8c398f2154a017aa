//! `vocos models download` and `vocos models list` against a local server that answers like the
//! Hugging Face Hub (`hub_server`), serving the tiny fixture models: a fresh download loads and
//! runs, a second run downloads nothing, corruption is caught before anything is installed, a
//! dropped connection resumes, and every failure is one line with a non-zero exit.

mod hub_server;
mod vocos_command;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hub_server::{Faults, HubServer, fixture_dir, fixture_for};
use vocos_command::{assert_success, stdout};
use vocos_plugin::hub::record::{PART_SUFFIX, SOURCE_FILE};
use vocos_plugin::hub::{self, ModelRepo, Source};
use vocos_plugin::models::{self, ModelKind};

fn scratch(name: &str) -> PathBuf {
    vocos_command::scratch("models_download", name)
}

/// Runs `vocos` with the Hub at `endpoint`, an empty hub cache (unless `cache`) and no token
/// (unless `token`), isolated from the user's environment.
fn vocos_with(
    endpoint: &str,
    scratch: &Path,
    cache: Option<&Path>,
    token: Option<&str>,
    args: &[&dyn AsRef<OsStr>],
) -> Output {
    let home = scratch.join("hf_home");
    let mut command = Command::new(env!("CARGO_BIN_EXE_vocos"));
    command
        .args(args)
        .env("HF_ENDPOINT", endpoint)
        .env("HF_HOME", &home)
        .env(
            "HF_HUB_CACHE",
            cache.map_or(home.join("hub"), Path::to_owned),
        )
        .env_remove("HF_TOKEN")
        .env_remove("HF_HUB_OFFLINE")
        .env_remove("VOCOS_MODEL_DIR");
    for proxy in [
        "ALL_PROXY",
        "all_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
    ] {
        command.env_remove(proxy);
    }
    if let Some(token) = token {
        command.env("HF_TOKEN", token);
    }
    command.output().unwrap()
}

/// A test's scratch folder, the model folder `models` in it, and the Hub the test talks to.
struct Hub {
    dir: PathBuf,
    models: PathBuf,
    server: HubServer,
}

impl Hub {
    /// A fresh scratch folder `name` and a Hub answering with `faults`.
    fn start(name: &str, faults: Faults) -> Self {
        let dir = scratch(name);
        Self {
            models: dir.join("models"),
            dir,
            server: HubServer::start(faults),
        }
    }

    /// `vocos models download --dir <models>` with the `extra` arguments, no hub cache and no
    /// token.
    fn download(&self, extra: &[&dyn AsRef<OsStr>]) -> Output {
        let mut args: Vec<&dyn AsRef<OsStr>> = vec![&"models", &"download", &"--dir", &self.models];
        args.extend_from_slice(extra);
        vocos_with(self.server.url(), &self.dir, None, None, &args)
    }

    /// `vocos models list --dir <models>`.
    fn list(&self) -> Output {
        let args: [&dyn AsRef<OsStr>; 4] = [&"models", &"list", &"--dir", &self.models];
        vocos_with(self.server.url(), &self.dir, None, None, &args)
    }
}

/// The Hub drops the connection once after sending `bytes` of `file`.
fn dropping(file: &str, bytes: usize) -> Faults {
    Faults {
        drop_after: Some((file.into(), bytes, 1)),
        ..Faults::default()
    }
}

/// Fails with exactly one line on stderr, which contains `expected`; returns it.
fn assert_one_line_error(out: &Output, expected: &str) -> String {
    assert!(!out.status.success(), "vocos succeeded: {}", stdout(out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].starts_with("vocos: error: "), "{}", lines[0]);
    assert!(
        lines[0].contains(expected),
        "{:?} lacks {expected:?}",
        lines[0]
    );
    println!("{}", lines[0]);
    lines[0].to_owned()
}

/// Every file of `repo` in `models` equals the fixture, is recorded in `source.json` with the
/// pinned commit, and no temporary file is left.
/// The `Range` headers of the requests the server answered since the last look.
fn range_requests(server: &HubServer) -> Vec<String> {
    server
        .take_log()
        .into_iter()
        .filter_map(|r| r.range)
        .collect()
}

/// Every repository of the catalogue is installed in `models`, as [`assert_installed`].
fn assert_all_installed(models: &Path) {
    for repo in hub::ALL {
        assert_installed(models, repo);
    }
}

fn assert_installed(models: &Path, repo: &ModelRepo) {
    let folder = models.join(repo.folder);
    let source = Source::read(&folder).expect("source.json");
    assert_eq!(source.repository, repo.id);
    assert_eq!(source.revision, repo.revision);
    assert_eq!(source.commit, repo.revision);
    assert_eq!(source.license, repo.license);
    for file in repo.files {
        let installed = std::fs::read(folder.join(file)).unwrap();
        assert_eq!(
            installed,
            std::fs::read(fixture_for(repo.id).join(file)).unwrap(),
            "{file}"
        );
        let hashes = hub::digest::FileHashes::of(&folder.join(file)).unwrap();
        let recorded = source.file(file).unwrap();
        assert_eq!(
            (recorded.size, &recorded.sha256),
            (hashes.size, &hashes.sha256)
        );
    }
    assert_no_part_files(&folder);
}

fn assert_no_part_files(folder: &Path) {
    for entry in std::fs::read_dir(folder).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(PART_SUFFIX), "left over: {name}");
    }
}

fn content_requests(log: &[hub_server::Request]) -> usize {
    log.iter().filter(|r| r.method == "GET").count()
}

fn write_wav(path: &Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 24_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..12_000 {
        let t = i as f32 / 24_000.0;
        w.write_sample(0.3 * (2.0 * std::f32::consts::PI * 220.0 * t).sin())
            .unwrap();
    }
    w.finalize().unwrap();
}

/// `vocos {args..} --encodec E --vocos V in out` with the given model folders: the output
/// bytes.
fn run(dir: &Path, name: &str, args: &[&dyn AsRef<OsStr>]) -> Vec<u8> {
    let input = dir.join("in.wav");
    write_wav(&input);
    let output = dir.join(name);
    let out = Command::new(env!("CARGO_BIN_EXE_vocos"))
        .args(args)
        .arg(&input)
        .arg(&output)
        .output()
        .unwrap();
    assert_success(&out);
    std::fs::read(output).unwrap()
}

#[test]
fn fresh_download_loads_and_runs_and_a_second_run_downloads_nothing() {
    let hub = Hub::start("fresh", Faults::default());
    let (dir, models, server) = (&hub.dir, &hub.models, &hub.server);

    let out = hub.download(&[]);
    assert_success(&out);
    print!("{}", stdout(&out));
    assert_all_installed(models);
    let log = server.take_log();
    // Per file one HEAD on the resolve URL; the configs come with the resolve GET, the
    // weights from the redirect target.
    assert_eq!(log.iter().filter(|r| r.method == "HEAD").count(), 6);
    assert_eq!(content_requests(&log), 6);
    assert_eq!(
        log.iter().filter(|r| r.path.starts_with("/cdn/")).count(),
        3
    );
    assert!(log.iter().all(|r| r.authorization.is_none()));

    // The plugin's loader takes them, and they run like the fixtures they came from.
    models::load(models, ModelKind::Codec).unwrap();
    models::load(models, ModelKind::Mel).unwrap();
    let resynth = |encodec: &Path, vocos: &Path, name| {
        run(
            dir,
            name,
            &[
                &"resynth",
                &"--encodec",
                &encodec,
                &"--vocos",
                &vocos,
                &"--bandwidth",
                &"6",
            ],
        )
    };
    assert_eq!(
        resynth(
            &models.join("encodec_24khz"),
            &models.join("vocos-encodec-24khz"),
            "a.wav"
        ),
        resynth(
            &fixture_dir("encodec_hf"),
            &fixture_dir("vocos_encodec"),
            "b.wav"
        )
    );
    let mel = |vocos: &Path, name| run(dir, name, &[&"mel", &"--vocos", &vocos]);
    assert_eq!(
        mel(&models.join("vocos-mel-24khz"), "c.wav"),
        mel(&fixture_dir("vocos_mel"), "d.wav")
    );

    // Second run: everything is recorded and verified locally, no request at all.
    let out = hub.download(&[]);
    assert_success(&out);
    assert_eq!(stdout(&out).matches("already there, verified").count(), 6);
    assert!(server.take_log().is_empty());

    // A file without its record (the folder copied by hand) is checked against the Hub's hash
    // and kept: metadata requests only.
    std::fs::remove_file(models.join("vocos-mel-24khz").join(SOURCE_FILE)).unwrap();
    let out = hub.download(&[]);
    assert_success(&out);
    let log = server.take_log();
    assert_eq!((log.len(), content_requests(&log)), (2, 0));
    assert_installed(models, &hub::catalogue::VOCOS_MEL);

    // `list` says what is there and that it is verified.
    let out = hub.list();
    assert_success(&out);
    let listing = stdout(&out);
    print!("{listing}");
    assert_eq!(listing.matches("verified").count(), 6);
    assert!(listing.contains("All 3 model folders are complete."));
    assert!(listing.contains("facebook/encodec_24khz (commit c1dbe2ae, license cc-by-nc-4.0"));
    assert!(server.take_log().is_empty());
}

#[test]
fn list_shows_missing_and_unverified_files() {
    let hub = Hub::start("list", Faults::default());
    let folder = hub.models.join("vocos-mel-24khz");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(
        fixture_dir("vocos_mel/config.yaml"),
        folder.join("config.yaml"),
    )
    .unwrap();
    let out = hub.list();
    assert_success(&out);
    assert!(
        hub.server.take_log().is_empty(),
        "listing asks the Hub nothing"
    );
    let listing = stdout(&out);
    print!("{listing}");
    assert!(listing.contains("$VOCOS_MODEL_DIR: (not set)"));
    assert_eq!(listing.matches("folder missing").count(), 2);
    assert!(listing.contains("not verified"));
    assert!(listing.contains("pytorch_model.bin    missing"));
    assert!(listing.contains("0 of 3 model folders complete"));
}

#[test]
fn only_downloads_one_variant() {
    let hub = Hub::start("only", Faults::default());
    let out = hub.download(&[&"--only", &"mel", &"--quiet"]);
    assert_success(&out);
    assert!(stdout(&out).is_empty(), "--quiet prints nothing");
    assert_installed(&hub.models, &hub::catalogue::VOCOS_MEL);
    assert!(!hub.models.join("encodec_24khz").exists());
}

#[test]
fn a_corrupted_byte_is_detected_and_nothing_is_installed() {
    let corrupt = Some("facebook/encodec_24khz/model.safetensors".into());
    let hub = Hub::start(
        "corrupt",
        Faults {
            corrupt,
            ..Faults::default()
        },
    );
    assert_one_line_error(&hub.download(&[]), "download deleted");
    let models = &hub.models;
    let folder = models.join("encodec_24khz");
    assert!(!folder.join("model.safetensors").exists());
    assert!(!folder.join(SOURCE_FILE).exists());
    assert_no_part_files(&folder);
    assert!(models::load(models, ModelKind::Codec).is_err());
}

#[test]
fn a_dropped_connection_resumes_with_a_range_request() {
    let file = "charactr/vocos-mel-24khz/pytorch_model.bin";
    let hub = Hub::start("dropped", dropping(file, 100_000));
    assert_success(&hub.download(&[]));
    assert_all_installed(&hub.models);
    assert_eq!(range_requests(&hub.server), ["bytes=100000-"]);
}

#[test]
fn a_server_ignoring_the_range_sends_the_whole_file_again() {
    let mut faults = dropping("charactr/vocos-mel-24khz/pytorch_model.bin", 100_000);
    faults.ignore_range = true;
    let hub = Hub::start("no_range", faults);
    assert_success(&hub.download(&[]));
    assert_all_installed(&hub.models);
    let log = hub.server.take_log();
    assert!(
        log.iter()
            .any(|r| r.range.as_deref() == Some("bytes=100000-"))
    );
}

#[test]
fn an_interrupted_run_leaves_no_model_file_and_the_next_run_resumes() {
    let weights = "charactr/vocos-encodec-24khz/pytorch_model.bin";
    let hub = Hub::start(
        "interrupted",
        Faults {
            unavailable_after_drop: true,
            ..dropping(weights, 300_000)
        },
    );
    let Hub { models, server, .. } = &hub;
    assert_one_line_error(&hub.download(&[]), "HTTP 503");
    let folder = models.join("vocos-encodec-24khz");
    assert!(!folder.join("pytorch_model.bin").exists());
    assert!(!folder.join(SOURCE_FILE).exists());
    assert!(models::load(models, ModelKind::Codec).is_err());
    let out = hub.list();
    assert!(
        stdout(&out).contains("missing (292.97 KiB partially downloaded)"),
        "{}",
        stdout(&out)
    );

    server.set_faults(Faults::default());
    server.take_log();
    assert_success(&hub.download(&[]));
    assert_all_installed(models);
    assert_eq!(range_requests(server), ["bytes=300000-"]);
}

#[test]
fn not_found_and_unauthorized_are_one_line_errors() {
    let hub = Hub::start(
        "refused",
        Faults {
            missing: Some("charactr/vocos-mel-24khz/config.yaml".into()),
            ..Faults::default()
        },
    );
    let dir = &hub.dir;
    assert_one_line_error(
        &hub.download(&[]),
        "HTTP 404 for charactr/vocos-mel-24khz at 0feb3fdd929bcd6649e0e7c5a688cf7dd012ef21: config.yaml not found (EntryNotFound)",
    );

    // A fresh folder: the first run installed the folders before the missing file.
    let models = dir.join("gated");
    let server = HubServer::start(Faults {
        token: Some("hf_right".into()),
        ..Faults::default()
    });
    let args: [&dyn AsRef<OsStr>; 4] = [&"models", &"download", &"--dir", &models];
    let out = vocos_with(server.url(), dir, None, None, &args);
    assert_one_line_error(
        &out,
        "HTTP 401 for facebook/encodec_24khz: access denied; it needs a Hugging Face token: set HF_TOKEN",
    );
    let out = vocos_with(server.url(), dir, None, Some("hf_wrong"), &args);
    assert_one_line_error(&out, "the token in HF_TOKEN cannot read it");
    let out = vocos_with(server.url(), dir, None, Some("hf_right"), &args);
    assert_success(&out);
    // The token goes to the endpoint's resolve URLs.
    let log = server.take_log();
    assert!(
        log.iter()
            .any(|r| r.authorization.as_deref() == Some("Bearer hf_right"))
    );

    // Without HF_TOKEN, the token file `huggingface-cli login` writes, `$HF_HOME/token`.
    let models = dir.join("gated_login");
    std::fs::create_dir_all(dir.join("hf_home")).unwrap();
    std::fs::write(dir.join("hf_home/token"), "hf_right\n").unwrap();
    let args: [&dyn AsRef<OsStr>; 4] = [&"models", &"download", &"--dir", &models];
    assert_success(&vocos_with(server.url(), dir, None, None, &args));
    assert_installed(&models, &hub::catalogue::ENCODEC);
}

#[test]
fn the_default_folder_is_where_the_plugin_looks() {
    let dir = scratch("default");
    let server = HubServer::start(Faults::default());
    let download = |env: &[(&str, &Path)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_vocos"));
        command
            .args(["models", "download", "--only", "mel", "--quiet"])
            .env("HF_ENDPOINT", server.url())
            .env("HF_HUB_CACHE", dir.join("no_cache"))
            .env_remove("HF_HUB_OFFLINE")
            .env_remove("VOCOS_MODEL_DIR");
        for (name, value) in env {
            command.env(name, value);
        }
        assert_success(&command.output().unwrap());
    };
    let models = dir.join("from_env");
    download(&[("VOCOS_MODEL_DIR", &models)]);
    assert_installed(&models, &hub::catalogue::VOCOS_MEL);
    if cfg!(target_os = "linux") {
        let data = dir.join("xdg_data");
        download(&[("XDG_DATA_HOME", &data)]);
        assert_installed(
            &data.join("vocos-plugin/models"),
            &hub::catalogue::VOCOS_MEL,
        );
    }
}

#[test]
fn no_network_is_a_one_line_error() {
    let dir = scratch("offline");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = vocos_with(
        &endpoint,
        &dir,
        None,
        None,
        &[&"models", &"download", &"--dir", &dir.join("models")],
    );
    assert_one_line_error(&out, &format!("cannot reach {endpoint} (no network?)"));
}

/// The huggingface_hub cache layout: `snapshots/{commit}/{file}` linking to `blobs/{etag}`.
#[cfg(unix)]
fn make_hub_cache(cache: &Path) {
    for repo in hub::ALL {
        let root = cache.join(hub::cache::repo_folder(repo));
        let snapshot = root.join("snapshots").join(repo.revision);
        std::fs::create_dir_all(root.join("blobs")).unwrap();
        std::fs::create_dir_all(&snapshot).unwrap();
        std::fs::create_dir_all(root.join("refs")).unwrap();
        std::fs::write(root.join("refs/main"), repo.revision).unwrap();
        for file in repo.files {
            let source = fixture_for(repo.id).join(file);
            let hashes = hub::digest::FileHashes::of(&source).unwrap();
            let etag = if file.ends_with(".bin") || file.ends_with(".safetensors") {
                hashes.sha256
            } else {
                hashes.git_sha1
            };
            std::fs::copy(&source, root.join("blobs").join(&etag)).unwrap();
            std::os::unix::fs::symlink(format!("../../blobs/{etag}"), snapshot.join(file)).unwrap();
        }
    }
}

#[cfg(unix)]
#[test]
fn the_hub_cache_is_reused_without_any_request() {
    let hub = Hub::start("cache", Faults::default());
    let (dir, models, server) = (&hub.dir, &hub.models, &hub.server);
    let cache = dir.join("hub_cache");
    make_hub_cache(&cache);
    let args: [&dyn AsRef<OsStr>; 4] = [&"models", &"download", &"--dir", models];
    let out = vocos_with(server.url(), dir, Some(&cache), None, &args);
    assert_success(&out);
    assert_eq!(stdout(&out).matches("copied from the hub cache").count(), 6);
    assert!(server.take_log().is_empty());
    assert_all_installed(models);
    models::load(models, ModelKind::Codec).unwrap();
}

#[test]
fn hf_hub_offline_uses_no_network() {
    let dir = scratch("hub_offline");
    let server = HubServer::start(Faults::default());
    let mut command = Command::new(env!("CARGO_BIN_EXE_vocos"));
    command
        .args(["models", "download", "--dir"])
        .arg(dir.join("models"))
        .env("HF_ENDPOINT", server.url())
        .env("HF_HUB_CACHE", dir.join("empty_cache"))
        .env("HF_HUB_OFFLINE", "1");
    let out = command.output().unwrap();
    assert_one_line_error(
        &out,
        "HF_HUB_OFFLINE is set and facebook/encodec_24khz/config.json is not in the hub cache",
    );
    assert!(server.take_log().is_empty());
    #[cfg(unix)]
    {
        make_hub_cache(&dir.join("cache"));
        assert_success(
            &command
                .env("HF_HUB_CACHE", dir.join("cache"))
                .output()
                .unwrap(),
        );
        assert!(server.take_log().is_empty());
    }
}

#[test]
fn a_renamed_repository_is_followed_to_its_new_name() {
    let hub = Hub::start(
        "moved",
        Faults {
            moved: true,
            ..Faults::default()
        },
    );
    assert_success(&hub.download(&[]));
    assert_all_installed(&hub.models);
    let log = hub.server.take_log();
    assert_eq!(
        log.iter().filter(|r| r.path.starts_with("/moved/")).count(),
        9
    );
}

/// Linux: the temporary file is made a link to `/dev/full`, where every write fails with
/// "no space left on device".
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_is_a_one_line_error() {
    let hub = Hub::start("full", Faults::default());
    let folder = hub.models.join("vocos-mel-24khz");
    std::fs::create_dir_all(&folder).unwrap();
    let weights = fixture_dir("vocos_mel/pytorch_model.bin");
    let sha256 = hub::digest::FileHashes::of(&weights).unwrap().sha256;
    let part = folder.join(format!("pytorch_model.bin.{}{PART_SUFFIX}", &sha256[..16]));
    std::os::unix::fs::symlink("/dev/full", &part).unwrap();
    let out = hub.download(&[&"--only", &"mel"]);
    assert_one_line_error(&out, &format!("disk full writing {}", part.display()));
    assert!(!folder.join("pytorch_model.bin").exists());
    assert!(!folder.join(SOURCE_FILE).exists());
}

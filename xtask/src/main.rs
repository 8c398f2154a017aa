//! Workspace tasks.
//!
//! - `cargo xtask bundle <package> [cargo args]`: nice-plug-xtask's bundler, then copies the
//!   bundles from `<target>/bundled/` into `bundles/`.
//! - `cargo xtask bench`: the streaming benchmark (`model/benches/streaming.rs`) and the
//!   plugin worker's CPU use (`plugin/benches/worker_cpu.rs`) on one thread, on the full-size
//!   models of `VOCOS_FULLSIZE_DIR`, else on seeded random full-size weights written once into
//!   the target folder.
//! - `cargo xtask soak [--minutes N]`: a stereo 48 kHz instance in real time for N minutes
//!   (default 60) with bandwidth automation, checked for underruns, drift and memory growth
//!   (`plugin/benches/soak.rs`; not in CI).
//! - `cargo xtask test [cargo test args]`: builds debug bundles with nice-plug's
//!   `assert_process_allocs` (any allocation in `process()` aborts), copies them to
//!   `<target>/test-bundles/` and runs `cargo test --workspace` with the host tests enabled and
//!   pointed at those bundles (`VOCOS_BUNDLE_DIR`); then the CLAP and VST3 validators on the
//!   same bundles ([`validators`]; skipped when cargo test arguments are given).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

mod validators;

const PLUGIN: &str = "vocos_plugin";
/// Bundle file names produced for [`PLUGIN`] (a file for CLAP, a directory for VST3 on Linux
/// and Windows, directories for both on macOS).
const BUNDLES: [&str; 2] = ["vocos_plugin.clap", "vocos_plugin.vst3"];

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<()> {
    nice_plug_xtask::chdir_workspace_root()?;
    match args.first().map(String::as_str) {
        Some("bundle") => {
            nice_plug_xtask::main_with_args("cargo xtask", args.clone())?;
            let packages: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with('-')).collect();
            if packages.iter().any(|p| *p == PLUGIN) {
                copy_bundles(Path::new("bundles"))?;
            }
            Ok(())
        }
        Some("test") => test(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("soak") => soak(&args[1..]),
        _ => nice_plug_xtask::main_with_args("cargo xtask", args),
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from)
}

/// Copies this plugin's bundles from `<target>/bundled/` to `dest`.
fn copy_bundles(dest: &Path) -> Result<()> {
    let source = target_dir().join("bundled");
    std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    for name in BUNDLES {
        let from = source.join(name);
        let to = dest.join(name);
        if !from.exists() {
            bail!("{} was not built", from.display());
        }
        remove(&to)?;
        copy_recursive(&from, &to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
        println!("{}", to.display());
    }
    Ok(())
}

fn remove(path: &Path) -> Result<()> {
    let result = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else if path.exists() {
        std::fs::remove_file(path)
    } else {
        Ok(())
    };
    result.with_context(|| format!("removing {}", path.display()))
}

fn copy_recursive(from: &Path, to: &Path) -> std::io::Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_recursive(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(from, to).map(|_| ())
    }
}

fn test(extra: &[String]) -> Result<()> {
    let bundle_args = ["bundle", PLUGIN, "--features", "assert_process_allocs"].map(String::from);
    nice_plug_xtask::main_with_args("cargo xtask", bundle_args)?;
    let test_bundles = target_dir().join("test-bundles");
    copy_bundles(&test_bundles)?;
    let bundle_dir = std::fs::canonicalize(&test_bundles)?;
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "test",
            "--workspace",
            "--features",
            "vocos_plugin/host-tests",
        ])
        .args(extra)
        .env("VOCOS_BUNDLE_DIR", &bundle_dir)
        .status()
        .context("running cargo test")?;
    if !status.success() {
        bail!("cargo test failed ({status})");
    }
    if extra.is_empty() {
        validators::run(&target_dir(), &bundle_dir, &tiny_model_folder()?)?;
    }
    Ok(())
}

/// The committed tiny random-weight models laid out as a model folder (the hub's folder
/// names), in `<target>/tiny-models`.
fn tiny_model_folder() -> Result<PathBuf> {
    let fixtures = std::fs::canonicalize("model/tests/fixtures/tiny")?;
    let folder = std::path::absolute(target_dir().join("tiny-models"))?;
    remove(&folder)?;
    std::fs::create_dir_all(&folder)?;
    for (name, fixture) in [
        ("encodec_24khz", "encodec_th"),
        ("vocos-encodec-24khz", "vocos_encodec"),
        ("vocos-mel-24khz", "vocos_mel"),
    ] {
        copy_recursive(&fixtures.join(fixture), &folder.join(name))?;
    }
    Ok(folder)
}

fn soak(extra: &[String]) -> Result<()> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["bench", "-p", "vocos_plugin", "--bench", "soak", "--"])
        .args(extra)
        .env("RAYON_NUM_THREADS", "1")
        .status()
        .context("running cargo bench")?;
    if !status.success() {
        bail!("soak failed ({status})");
    }
    Ok(())
}

fn bench(extra: &[String]) -> Result<()> {
    for (package, bench) in [("vocos_model", "streaming"), ("vocos_plugin", "worker_cpu")] {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["bench", "-p", package, "--bench", bench])
            .args(extra)
            .env("RAYON_NUM_THREADS", "1")
            .status()
            .context("running cargo bench")?;
        if !status.success() {
            bail!("cargo bench -p {package} failed ({status})");
        }
    }
    Ok(())
}

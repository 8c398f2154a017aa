//! The independent validators `cargo xtask test` runs on the test bundles, each without a model
//! and with the tiny random-weight models:
//! - free-audio's **clap-validator** (MIT), built once from its source into
//!   `<target>/clap-validator`: `validate` (every test, 0 failures) and `fuzz` (parameter
//!   fuzzing for [`FUZZ_SECONDS`], no failure);
//! - Steinberg's **VST3 validator** (prebuilt): `-e` (extensive), exit code 0 and no line
//!   about a wrong silence flag (it logs those without failing a test).
//!
//! Both come from the validators' folder beside the checkout (`VOCOS_TOOLS_DIR`, by default
//! `shared/tools` next to the repository): `clap-validator/` (a cargo project) and
//! `vst3-validator/validator`. Where that folder is absent the validators are skipped with a
//! note, except on CI (`CI` set), which always has it: there it is an error.
//!
//! The test bundles are built with `assert_process_allocs`, so an allocation on the audio
//! thread under either validator aborts the plugin and fails the run.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// How long `clap-validator fuzz` runs per model setup.
const FUZZ_SECONDS: u32 = 30;
/// What the VST3 validator logs, without failing a test, when a plugin's output silence flags
/// claim silence over audible output.
const WRONG_SILENCE_FLAG: &str = "wrong silent flag";

/// The validators' folder, if present.
fn tools_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("VOCOS_TOOLS_DIR")
        .map_or_else(|| PathBuf::from("../shared/tools"), PathBuf::from);
    dir.is_dir().then_some(dir)
}

/// Runs both validators on `bundles` (the test bundles), without models and with the models
/// of `model_dir`.
pub fn run(target: &Path, bundles: &Path, model_dir: &Path) -> Result<()> {
    let Some(tools) = tools_dir() else {
        // CI always has the folder: missing there, the validators must not be skipped quietly.
        if std::env::var_os("CI").is_some() {
            bail!("no validators' folder (VOCOS_TOOLS_DIR) on CI");
        }
        println!("validators: no validators' folder (VOCOS_TOOLS_DIR); skipped");
        return Ok(());
    };
    let clap_validator = build_clap_validator(&tools, target)?;
    let vst3_validator = tools.join("vst3-validator").join("validator");
    let no_models = target.join("validator-no-models");
    std::fs::create_dir_all(&no_models)?;
    let clap = bundles.join("vocos_plugin.clap");
    let vst3 = bundles.join("vocos_plugin.vst3");
    let mut passed = 0;
    for (setup, models) in [
        ("without models", &no_models),
        ("with models", &model_dir.into()),
    ] {
        let models: &Path = models;
        println!("validators, {setup}:");
        let run = |program: &Path, args: &[&str], bundle: &Path| {
            let echo = program == clap_validator;
            run_tool(program, args, bundle, models, echo)
                .with_context(|| format!("{} {setup}", program.display()))
        };
        run(&clap_validator, &["validate"], &clap)?;
        let fuzz = format!("{FUZZ_SECONDS}s");
        run(&clap_validator, &["fuzz", "--duration", &fuzz], &clap)?;
        let log = run(&vst3_validator, &["-e"], &vst3)?;
        let notable = |l: &&str| {
            l.starts_with("Result:") || l.contains("Failed]") || l.contains(WRONG_SILENCE_FLAG)
        };
        log.lines()
            .filter(notable)
            .for_each(|l| println!("VST3 validator: {l}"));
        if let Some(line) = log.lines().find(|l| l.contains(WRONG_SILENCE_FLAG)) {
            bail!("VST3 validator {setup}: {}", line.trim());
        }
        passed += 3;
    }
    // Any failure above has returned an error: the runs that got here all passed.
    println!("validators: {passed} passed, 0 failed");
    Ok(())
}

/// Builds clap-validator from its source into `<target>/clap-validator` (once: later runs
/// only check it is up to date) and returns the binary.
fn build_clap_validator(tools: &Path, target: &Path) -> Result<PathBuf> {
    let build_dir = std::path::absolute(target.join("clap-validator"))?;
    let manifest = tools.join("clap-validator").join("Cargo.toml");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--locked", "--manifest-path"])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &build_dir)
        .status()
        .context("building clap-validator")?;
    if !status.success() {
        bail!("building clap-validator failed ({status})");
    }
    Ok(build_dir.join("release").join("clap-validator"))
}

/// Runs a validator on `bundle` with the plugin's model folder set to `models` and returns its
/// output, echoed if `echo` (Steinberg's runs to thousands of lines: the caller picks the
/// notable ones) or on failure; a non-zero exit is an error.
fn run_tool(
    program: &Path,
    args: &[&str],
    bundle: &Path,
    models: &Path,
    echo: bool,
) -> Result<String> {
    let output = Command::new(program)
        .args(args)
        .arg(bundle)
        .env("VOCOS_MODEL_DIR", models)
        .output()
        .with_context(|| format!("running {}", program.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if echo || !output.status.success() {
        print!("{text}");
    }
    if !output.status.success() {
        bail!("failed ({})", output.status);
    }
    Ok(text)
}

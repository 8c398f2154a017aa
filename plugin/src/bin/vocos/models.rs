//! `vocos models list` and `vocos models download`: what the model folder holds, and getting
//! the official files from the Hugging Face Hub (see `vocos_plugin::hub`).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use vocos_plugin::hub::record::{Check, FileState};
use vocos_plugin::hub::{self, FolderReport, HubConfig, ModelRepo, Outcome, Progress};
use vocos_plugin::models::{self, ModelKind};

use crate::error::{CliError, Result};

/// `--dir`, else where the plugin would look (`$VOCOS_MODEL_DIR`, else the user data folder).
fn models_dir(dir: Option<PathBuf>) -> Result<PathBuf> {
    dir.or_else(models::default_models_dir).ok_or_else(|| {
        CliError::Usage("no user data folder (HOME is not set): pass --dir DIR".into())
    })
}

fn describe(state: &FileState) -> String {
    match state {
        FileState::Missing => "missing".into(),
        FileState::Partial { bytes } => {
            format!("missing ({} partially downloaded)", HumanBytes(*bytes))
        }
        FileState::Present { size, check } => {
            let check = match check {
                Check::Verified => "verified",
                Check::Unrecorded => "not verified (no record of its download)",
                Check::Modified => "MODIFIED since its download",
                Check::NotChecked => "not checked",
            };
            format!("{:>10}  {check}", HumanBytes(*size).to_string())
        }
    }
}

pub fn list(dir: Option<PathBuf>) -> Result<()> {
    let chosen = dir.is_some();
    let env = models::env_models_dir();
    let user = models::user_models_dir();
    let shown = |p: &Option<PathBuf>| {
        p.as_ref()
            .map_or("(not set)".into(), |p| p.display().to_string())
    };
    println!("The plugin looks for the model folder in this order:");
    println!("  1. the folder chosen in its editor (saved with each project)");
    println!("  2. $VOCOS_MODEL_DIR: {}", shown(&env));
    println!("  3. the user data folder: {}", shown(&user));
    let dir = models_dir(dir)?;
    let why = if chosen {
        "--dir"
    } else {
        "the plugin's default"
    };
    println!();
    println!("{} ({why}):", dir.display());
    let mut complete = 0;
    for repo in hub::ALL {
        let report = FolderReport::inspect(&dir, repo, true);
        print_folder(&report);
        complete += usize::from(report.complete());
    }
    println!();
    if complete == hub::ALL.len() {
        println!("All {complete} model folders are complete.");
    } else {
        println!(
            "{complete} of {} model folders complete; get the rest with `vocos models download{}`.",
            hub::ALL.len(),
            if chosen {
                format!(" --dir {}", dir.display())
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

fn print_folder(report: &FolderReport) {
    let repo = report.repo;
    let commit = report
        .source
        .as_ref()
        .map_or("not recorded".to_owned(), |s| {
            s.commit.chars().take(8).collect()
        });
    println!();
    println!(
        "{}/  {} (commit {commit}, license {})",
        repo.folder, repo.id, repo.license
    );
    if !report.path.is_dir() {
        println!("    folder missing");
        return;
    }
    for (name, state) in &report.files {
        println!("    {name:<20} {}", describe(state));
    }
    for (name, size) in &report.others {
        println!(
            "    {name:<20} {:>10}  other file",
            HumanBytes(*size).to_string()
        );
    }
}

/// A bar per file on stderr (hidden when `quiet` or stderr is no terminal) and a line per file
/// on stdout (unless `quiet`).
struct Bars {
    quiet: bool,
    bar: Mutex<ProgressBar>,
}

impl Progress for Bars {
    fn start(&self, repo: &ModelRepo, file: &str, total: u64, done: u64) {
        if self.quiet {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .expect("template is valid"),
        );
        bar.set_prefix(format!("{}/{file}", repo.id));
        bar.set_position(done);
        *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = bar;
    }

    fn advance(&self, done: u64) {
        self.bar
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .set_position(done);
    }

    fn finish(&self, repo: &ModelRepo, file: &str, outcome: Outcome) {
        self.bar
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .finish_and_clear();
        if self.quiet {
            return;
        }
        let how = match outcome {
            Outcome::Present => "already there, verified".into(),
            Outcome::FromCache => "copied from the hub cache, verified".into(),
            Outcome::Downloaded { bytes } => {
                format!("downloaded, verified ({})", HumanBytes(bytes))
            }
        };
        println!("{}/{file}: {how}", repo.id);
    }
}

pub fn download(dir: Option<PathBuf>, only: Option<ModelKind>, quiet: bool) -> Result<()> {
    let chosen = dir.is_some();
    let dir = models_dir(dir)?;
    let repos = hub::repos_for(only);
    let bars = Bars {
        quiet,
        bar: Mutex::new(ProgressBar::hidden()),
    };
    hub::download(
        &dir,
        &repos,
        &HubConfig::from_env(),
        &bars,
        &AtomicBool::new(false),
    )?;
    if !quiet {
        print_done(&dir, &repos, chosen);
    }
    Ok(())
}

fn print_done(dir: &Path, repos: &[&ModelRepo], chosen: bool) {
    println!("Models in {}.", dir.display());
    for repo in repos {
        println!(
            "  {}: license {} ({})",
            repo.id,
            repo.license,
            repo.card_url()
        );
    }
    let default = models::default_models_dir();
    if chosen && default.as_deref() != Some(dir) {
        println!(
            "The plugin looks elsewhere by default: choose this folder in its editor or set VOCOS_MODEL_DIR={}.",
            dir.display()
        );
    }
}

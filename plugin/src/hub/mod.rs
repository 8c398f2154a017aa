//! Getting the official model files from the Hugging Face Hub into a model folder, for the
//! `vocos models` command and the editor's **Get models** button.
//!
//! Each repository of the [`catalogue`] goes to its folder of the model folder
//! (`encodec_24khz/`, ...). Per file, the first that applies:
//! 1. the file is there and equals the folder's [`record`] (`source.json`): kept, no network;
//! 2. the `huggingface_hub` [`cache`] has it at the pinned commit: copied, no network;
//! 3. otherwise the Hub is asked for its hash and size (`HEAD .../resolve/{revision}/{file}`);
//!    a file already there with that hash is kept, else it is fetched (`fetch`): downloaded under a
//!    temporary name, resumed with HTTP `Range` after a broken connection, checked, renamed.
//!
//! Once every file of a folder is in place, its `source.json` records the repository, commit,
//! license and each file's size and sha256.
//!
//! The HTTP client is `ureq` 3 (blocking, rustls: no system OpenSSL), not the `hf-hub` crate:
//! hf-hub's blocking API resumes and reports progress, but downloads into the hub cache only
//! (the files would then be copied into the model folder) and its progress callback cannot
//! stop a download (the editor's Cancel). What is used of the Hub's conventions (the resolve
//! URL and its headers, the cache layout, the environment variables, see [`HubConfig`]) fits
//! in `client` and [`cache`]; the checks (size, sha256 of LFS files, git blob id of the
//! others) are done here either way.

pub mod cache;
pub mod catalogue;
mod client;
mod config;
pub mod digest;
mod error;
mod fetch;
pub mod record;
pub mod task;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

pub use catalogue::{ALL, ModelRepo, repos_for};
pub use config::HubConfig;
pub use error::HubError;
pub use record::{FolderReport, Source};

use client::Client;
use digest::FileHashes;
use record::SourceFile;

/// How a file got in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It was already there, equal to what the Hub publishes.
    Present,
    /// Copied from the hub cache.
    FromCache,
    /// Downloaded (a file of this many bytes).
    Downloaded { bytes: u64 },
}

/// Told about each file as it is fetched. Called on the downloading thread.
pub trait Progress: Sync {
    /// A download of `file` of `repo` starts: `total` bytes, `done` of them already there
    /// (resumed).
    fn start(&self, repo: &ModelRepo, file: &str, total: u64, done: u64);
    /// `done` of the current file's bytes are now there.
    fn advance(&self, done: u64);
    /// `file` of `repo` is in place.
    fn finish(&self, repo: &ModelRepo, file: &str, outcome: Outcome);
}

/// Gets `repos` into the model folder `dir` (see the module documentation). Stops with
/// [`HubError::Cancelled`] soon after `cancel` is set.
pub fn download(
    dir: &Path,
    repos: &[&ModelRepo],
    config: &HubConfig,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<(), HubError> {
    let downloader = Downloader {
        client: Client::new(config),
        cache: config.cache.as_deref(),
        offline: config.offline,
        progress,
        cancel,
    };
    for repo in repos {
        downloader.repo(dir, repo)?;
    }
    Ok(())
}

struct Downloader<'a> {
    client: Client,
    cache: Option<&'a Path>,
    /// `HF_HUB_OFFLINE`: step 3 is an error.
    offline: bool,
    progress: &'a dyn Progress,
    cancel: &'a AtomicBool,
}

/// Where a folder's files came from, for its record: the first file that says.
#[derive(Default)]
struct Origin {
    commit: Option<String>,
    from: Option<String>,
}

impl Downloader<'_> {
    /// Gets every file of `repo` into its folder of `dir`, then records them.
    fn repo(&self, dir: &Path, repo: &ModelRepo) -> Result<(), HubError> {
        let folder = dir.join(repo.folder);
        std::fs::create_dir_all(&folder).map_err(|e| HubError::io(&folder, e))?;
        let recorded = Source::read(&folder)
            .filter(|s| s.repository == repo.id && s.revision == repo.revision);
        let mut origin = Origin {
            commit: recorded.as_ref().map(|s| s.commit.clone()),
            from: recorded.as_ref().map(|s| s.from.clone()),
        };
        let mut files = Vec::new();
        for &name in repo.files {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(HubError::Cancelled);
            }
            let entry = recorded.as_ref().and_then(|s| s.file(name));
            let (file, outcome) = self.file(repo, &folder.join(name), entry, &mut origin)?;
            self.progress.finish(repo, name, outcome);
            files.push(file);
        }
        let source = Source {
            repository: repo.id.to_owned(),
            revision: repo.revision.to_owned(),
            commit: origin.commit.unwrap_or_else(|| repo.revision.to_owned()),
            license: repo.license.to_owned(),
            from: origin.from.unwrap_or_default(),
            files,
        };
        if recorded.as_ref() != Some(&source) {
            source.write(&folder)?;
        }
        Ok(())
    }

    /// Gets `dest`, file `name` of `repo`, in place: the first of the steps of the module
    /// documentation that applies.
    fn file(
        &self,
        repo: &ModelRepo,
        dest: &Path,
        recorded: Option<&SourceFile>,
        origin: &mut Origin,
    ) -> Result<(SourceFile, Outcome), HubError> {
        let name = dest.file_name().unwrap_or_default().to_string_lossy();
        let hashes = |path: &Path| FileHashes::of(path).map_err(|e| HubError::io(path, e));
        let entry = |hashes: FileHashes| SourceFile {
            name: name.to_string(),
            size: hashes.size,
            sha256: hashes.sha256,
        };
        // 1. Already there and recorded.
        if let Some(recorded) = recorded
            && dest.is_file()
            && hashes(dest)?.sha256 == recorded.sha256
        {
            return Ok((recorded.clone(), Outcome::Present));
        }
        // 2. In the hub cache.
        if let Some(cache) = self.cache
            && let Some((cached, digest)) = cache::cached(cache, repo, &name)
        {
            origin
                .from
                .get_or_insert_with(|| cache.display().to_string());
            let installed = fetch::copy_from_cache(&cached, dest, &digest)?;
            return Ok((entry(installed), Outcome::FromCache));
        }
        // 3. From the Hub, unless the file there already has the published hash.
        if self.offline {
            return Err(HubError::OfflineMode {
                repo: repo.id.to_owned(),
                file: name.into_owned(),
            });
        }
        let remote = self.client.metadata(repo, &name)?;
        origin.commit = origin.commit.take().or_else(|| remote.commit.clone());
        origin
            .from
            .get_or_insert_with(|| self.client.endpoint().to_owned());
        if dest.is_file() {
            let present = hashes(dest)?;
            if present.size == remote.size && present.matches(&remote.digest) {
                return Ok((entry(present), Outcome::Present));
            }
        }
        let installed = fetch::download(
            &self.client,
            repo,
            &name,
            &remote,
            dest,
            self.progress,
            self.cancel,
        )?;
        let bytes = installed.size;
        Ok((entry(installed), Outcome::Downloaded { bytes }))
    }
}

//! Getting the official model files from the Hugging Face Hub into a model folder, for the
//! `vocos models` command and the editor's **Get models** button.
//!
//! Each repository of the [`catalogue`] goes to its folder of the model folder
//! (`encodec_24khz/`, ...). Per file, the first that applies:
//! 1. the file is there and equals the folder's [`record`] (`source.json`): kept, no network;
//! 2. the `huggingface_hub` [`cache`] has it at the pinned commit: copied, no network;
//! 3. otherwise the Hub is asked for its hash and size (`HEAD .../resolve/{revision}/{file}`);
//!    a file already there with that hash is kept, else it is [`fetch`]ed: downloaded under a
//!    temporary name, resumed with HTTP `Range` after a broken connection, checked, renamed.
//!
//! Once every file of a folder is in place, its `source.json` records the repository, commit,
//! license and each file's size and sha256.
//!
//! The HTTP client is `ureq` (blocking, rustls: no system OpenSSL), not the `hf-hub` crate:
//! hf-hub's blocking API downloads into the hub cache only, whole files, without a way to
//! resume into a chosen folder, check the LFS sha256, report progress to a GUI or cancel; what
//! is used of the Hub's conventions (the resolve URL, its headers, the cache layout, the
//! environment variables, see [`HubConfig`]) fits in [`client`] and [`cache`].

pub mod cache;
pub mod catalogue;
pub mod client;
pub mod config;
pub mod digest;
pub mod error;
pub mod fetch;
pub mod record;
pub mod task;

use std::path::Path;
use std::sync::atomic::AtomicBool;

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
    let client = Client::new(config);
    for repo in repos {
        download_repo(dir, repo, config, &client, progress, cancel)?;
    }
    Ok(())
}

fn download_repo(
    dir: &Path,
    repo: &ModelRepo,
    config: &HubConfig,
    client: &Client,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<(), HubError> {
    let folder = dir.join(repo.folder);
    std::fs::create_dir_all(&folder).map_err(|e| HubError::io(&folder, e))?;
    let recorded =
        Source::read(&folder).filter(|s| s.repository == repo.id && s.revision == repo.revision);
    let mut commit = recorded.as_ref().map(|s| s.commit.clone());
    let mut from = recorded.as_ref().map(|s| s.from.clone());
    let mut files = Vec::new();
    for &name in repo.files {
        let dest = folder.join(name);
        let hashes = |path: &Path| FileHashes::of(path).map_err(|e| HubError::io(path, e));
        // 1. Already there and recorded.
        if let Some(entry) = recorded.as_ref().and_then(|s| s.file(name))
            && dest.is_file()
            && hashes(&dest)?.sha256 == entry.sha256
        {
            progress.finish(repo, name, Outcome::Present);
            files.push(entry.clone());
            continue;
        }
        // 2. In the hub cache.
        let cached = config.cache.as_deref().and_then(|cache| {
            cache::cached(cache, repo, name).map(|(path, digest)| (cache, path, digest))
        });
        let (installed, outcome) = if let Some((cache, path, digest)) = cached {
            from.get_or_insert_with(|| cache.display().to_string());
            (
                fetch::copy_from_cache(&path, &dest, &digest)?,
                Outcome::FromCache,
            )
        } else {
            // 3. From the Hub, unless the file there already has its hash.
            let remote = client.metadata(repo, name)?;
            commit = commit.or_else(|| remote.commit.clone());
            from.get_or_insert_with(|| client.endpoint().to_owned());
            match dest.is_file().then(|| hashes(&dest)).transpose()? {
                Some(present) if present.size == remote.size && present.matches(&remote.digest) => {
                    (present, Outcome::Present)
                }
                _ => {
                    let installed =
                        fetch::download(client, repo, name, &remote, &dest, progress, cancel)?;
                    let bytes = installed.size;
                    (installed, Outcome::Downloaded { bytes })
                }
            }
        };
        progress.finish(repo, name, outcome);
        files.push(SourceFile {
            name: name.to_owned(),
            size: installed.size,
            sha256: installed.sha256,
        });
    }
    let source = Source {
        repository: repo.id.to_owned(),
        revision: repo.revision.to_owned(),
        commit: commit.unwrap_or_else(|| repo.revision.to_owned()),
        license: repo.license.to_owned(),
        from: from.unwrap_or_default(),
        files,
    };
    if recorded.as_ref() != Some(&source) {
        source.write(&folder)?;
    }
    Ok(())
}

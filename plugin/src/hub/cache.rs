//! Files already in the `huggingface_hub` cache, reused without network traffic.
//!
//! The cache (`HF_HUB_CACHE`) holds `models--{org}--{name}/snapshots/{commit}/{file}` as
//! symbolic links to `../../blobs/{etag}`, the blob named by the hash the Hub published for it
//! (see [`Digest`]). Since the revisions are pinned commits, the snapshot folder is known
//! without reading `refs/`. A snapshot file that is not such a link (a cache made without
//! symbolic links, as on Windows without developer mode) cannot be checked and is not used.

use std::path::{Path, PathBuf};

use super::catalogue::ModelRepo;
use super::digest::Digest;

/// `models--{org}--{name}`, the cache's folder for a model repository.
pub fn repo_folder(repo: &ModelRepo) -> String {
    format!("models--{}", repo.id.replace('/', "--"))
}

/// The cached copy of `file` of `repo` at its pinned commit and the digest its blob is named
/// by, if the cache has it.
pub fn cached(cache: &Path, repo: &ModelRepo, file: &str) -> Option<(PathBuf, Digest)> {
    let snapshot = cache
        .join(repo_folder(repo))
        .join("snapshots")
        .join(repo.revision)
        .join(file);
    let blob = std::fs::read_link(&snapshot).ok()?;
    let digest = Digest::parse(blob.file_name()?.to_str()?)?;
    snapshot.is_file().then_some((snapshot, digest))
}

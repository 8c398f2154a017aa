//! Putting one file in place: copied from the hub cache or downloaded, always under a
//! temporary name (`{file}.{hash prefix}.part`) that is renamed to the real name only once its
//! size and hash equal what the Hub published. An interrupted or failed download therefore
//! never leaves a file the loaders would read; the next run resumes the temporary file.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::Progress;
use super::catalogue::ModelRepo;
use super::client::{Client, Content, Failure, Remote};
use super::digest::{Digest, FileHashes};
use super::error::HubError;
use super::record::PART_SUFFIX;

/// Attempts per file when the connection breaks; each resumes where the last one stopped.
const ATTEMPTS: u32 = 4;
/// Wait before the n-th retry: n times this.
const RETRY_DELAY: Duration = Duration::from_millis(500);
const CHUNK: usize = 1 << 16;

/// The temporary name of `dest` while it is fetched: the hash prefix keeps a partial file of
/// other content (another revision) from being resumed.
pub fn part_path(dest: &Path, digest: &Digest) -> PathBuf {
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    dest.with_file_name(format!("{name}.{}{PART_SUFFIX}", &digest.hex()[..16]))
}

/// Checks `part` against `digest` and `size`, then renames it to `dest`. A mismatch deletes it.
fn verify_and_install(
    part: &Path,
    dest: &Path,
    digest: &Digest,
    size: u64,
) -> Result<FileHashes, HubError> {
    let hashes = FileHashes::of(part).map_err(|e| HubError::io(part, e))?;
    if hashes.size != size || !hashes.matches(digest) {
        // Best effort: the error below is what matters.
        let _ = std::fs::remove_file(part);
        return Err(HubError::Checksum {
            file: dest.to_owned(),
            kind: digest.kind(),
            expected: digest.hex().to_owned(),
            actual: hashes.actual(digest).to_owned(),
            expected_size: size,
            size: hashes.size,
        });
    }
    std::fs::rename(part, dest).map_err(|e| HubError::io(dest, e))?;
    Ok(hashes)
}

/// Copies the hub cache's `cached` file (named by `digest`) to `dest`.
pub fn copy_from_cache(
    cached: &Path,
    dest: &Path,
    digest: &Digest,
) -> Result<FileHashes, HubError> {
    let part = part_path(dest, digest);
    let size = std::fs::copy(cached, &part).map_err(|e| HubError::io(&part, e))?;
    verify_and_install(&part, dest, digest, size)
}

/// Downloads `remote` to `dest`, resuming a partial download, retrying when the connection
/// breaks, stopping between chunks when `cancel` is set (the partial file stays for the next
/// run).
pub fn download(
    client: &Client,
    repo: &ModelRepo,
    file: &str,
    remote: &Remote,
    dest: &Path,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<FileHashes, HubError> {
    let part = part_path(dest, &remote.digest);
    let len = |path: &Path| std::fs::metadata(path).map_or(0, |m| m.len());
    if len(&part) > remote.size {
        std::fs::remove_file(&part).map_err(|e| HubError::io(&part, e))?;
    }
    progress.start(repo, file, remote.size, len(&part));
    let mut attempt = 0;
    while len(&part) < remote.size {
        if cancel.load(Ordering::Relaxed) {
            return Err(HubError::Cancelled);
        }
        let done = len(&part);
        let broken = match client.content(repo, file, remote, done) {
            Err(Failure::Refused(error)) => return Err(error),
            Err(Failure::Broken(reason)) => reason,
            Ok(content) => match receive(content, &part, remote.size, progress, cancel)? {
                Ok(()) => continue,
                Err(reason) => reason,
            },
        };
        attempt += 1;
        if attempt >= ATTEMPTS {
            return Err(HubError::Interrupted {
                file: dest.to_owned(),
                done: len(&part),
                total: remote.size,
                reason: broken,
            });
        }
        std::thread::sleep(RETRY_DELAY * attempt);
    }
    verify_and_install(&part, dest, &remote.digest, remote.size)
}

/// Writes `content` into `part` (appending from its offset). `Ok(Err(reason))` when the
/// connection broke or the body ended early: the caller resumes.
fn receive(
    mut content: Content,
    part: &Path,
    size: u64,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<Result<(), String>, HubError> {
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(content.offset == 0)
        .append(content.offset > 0)
        .open(part)
        .map_err(|e| HubError::io(part, e))?;
    let mut done = content.offset;
    let mut buffer = vec![0; CHUNK];
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(HubError::Cancelled);
        }
        let n = match content.reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) => return Ok(Err(error.to_string())),
        };
        out.write_all(&buffer[..n])
            .map_err(|e| HubError::io(part, e))?;
        done += n as u64;
        progress.advance(done);
    }
    out.flush().map_err(|e| HubError::io(part, e))?;
    Ok(if done < size {
        Err(format!("the answer ended after {done} of {size} bytes"))
    } else {
        Ok(())
    })
}

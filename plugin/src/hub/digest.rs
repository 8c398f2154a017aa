//! The content hashes the Hub publishes and checking files against them.
//!
//! For a file stored with Git LFS (the weights) the Hub's `X-Linked-Etag` is the sha256 of the
//! content; for a regular git file (the configs) the `ETag` is its git blob id, the sha1 of
//! `"blob {size}\0"` followed by the content. The hub cache names its blobs by the same value.

use std::io::Read;
use std::path::Path;

use sha1::Sha1;
use sha2::{Digest as _, Sha256};

/// What a file's content must hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Digest {
    /// Lower-case hex sha256 of the content (LFS files).
    Sha256(String),
    /// Lower-case hex git blob id (regular files).
    GitSha1(String),
}

impl Digest {
    /// Reads an `ETag` / `X-Linked-Etag` value or a hub cache blob name: quotes and a weak
    /// `W/` prefix are ignored; 64 hex digits are a sha256, 40 a git blob id.
    pub fn parse(etag: &str) -> Option<Self> {
        let hex = etag.trim().trim_start_matches("W/").trim_matches('"');
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        match hex.len() {
            64 => Some(Self::Sha256(hex.to_ascii_lowercase())),
            40 => Some(Self::GitSha1(hex.to_ascii_lowercase())),
            _ => None,
        }
    }

    pub fn hex(&self) -> &str {
        match self {
            Self::Sha256(hex) | Self::GitSha1(hex) => hex,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sha256(_) => "sha256",
            Self::GitSha1(_) => "git blob sha1",
        }
    }
}

/// The hashes of one file, computed in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHashes {
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
    /// Lower-case hex git blob id.
    pub git_sha1: String,
}

impl FileHashes {
    pub fn of(path: &Path) -> std::io::Result<Self> {
        let mut file = std::fs::File::open(path)?;
        let size = file.metadata()?.len();
        let mut sha256 = Sha256::new();
        let mut git_sha1 = Sha1::new();
        git_sha1.update(format!("blob {size}\0").as_bytes());
        let mut buffer = vec![0; 1 << 16];
        let mut read = 0u64;
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            sha256.update(&buffer[..n]);
            git_sha1.update(&buffer[..n]);
            read += n as u64;
        }
        if read != size {
            return Err(std::io::Error::other(format!(
                "{} changed while it was hashed",
                path.display()
            )));
        }
        Ok(Self {
            size,
            sha256: hex(&sha256.finalize()),
            git_sha1: hex(&git_sha1.finalize()),
        })
    }

    /// The hash of the same kind as `digest`, in lower-case hex.
    pub fn actual(&self, digest: &Digest) -> &str {
        match digest {
            Digest::Sha256(_) => &self.sha256,
            Digest::GitSha1(_) => &self.git_sha1,
        }
    }

    pub fn matches(&self, digest: &Digest) -> bool {
        self.actual(digest) == digest.hex()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_etags() {
        let sha = "a".repeat(64);
        assert_eq!(
            Digest::parse(&format!("\"{sha}\"")),
            Some(Digest::Sha256(sha))
        );
        let blob = "0123456789abcdef0123456789ABCDEF01234567";
        assert_eq!(
            Digest::parse(&format!("W/\"{blob}\"")),
            Some(Digest::GitSha1(blob.to_ascii_lowercase()))
        );
        assert_eq!(Digest::parse("\"xyz\""), None);
        assert_eq!(Digest::parse("\"abc\""), None);
    }

    #[test]
    fn hashes_like_sha256sum_and_git() {
        let path = std::env::temp_dir().join(format!("vocos-digest-{}", std::process::id()));
        std::fs::write(&path, b"hello\n").unwrap();
        let hashes = FileHashes::of(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(hashes.size, 6);
        // `printf 'hello\n' | sha256sum` and `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(
            hashes.sha256,
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
        assert_eq!(hashes.git_sha1, "ce013625030ba8dba906f756967f9e9ca394464a");
    }
}

//! Why a download failed, each as one line naming the repository, file or path at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The endpoint could not be reached at all (no network, DNS, refused, timeout).
    #[error("cannot reach {endpoint} (no network?): {reason}")]
    Offline { endpoint: String, reason: String },
    /// `HF_HUB_OFFLINE` forbids the network and the file is neither there nor in the cache.
    #[error("HF_HUB_OFFLINE is set and {repo}/{file} is not in the hub cache")]
    OfflineMode { repo: String, file: String },
    /// 401/403: the repository is gated or private and the token is missing or lacks access.
    #[error(
        "HTTP {status} for {repo}: access denied; {}",
        if *token_sent { "the token in HF_TOKEN cannot read it" } else { "it needs a Hugging Face token: set HF_TOKEN" }
    )]
    Unauthorized {
        repo: String,
        status: u16,
        token_sent: bool,
    },
    /// 404: the repository, revision or file does not exist (the Hub's `X-Error-Code` says
    /// which).
    #[error("HTTP 404 for {repo} at {revision}: {file} not found ({code})")]
    NotFound {
        repo: String,
        revision: String,
        file: String,
        code: String,
    },
    #[error("HTTP {status} from {url}")]
    Status { url: String, status: u16 },
    #[error("{url}: unexpected answer: {reason}")]
    BadResponse { url: String, reason: String },
    /// The connection broke mid-file more often than the download retries; the partial file
    /// stays (under its temporary name) and the next run resumes it.
    #[error(
        "connection lost downloading {file} after {done} of {total} bytes: {reason} (run again to resume)"
    )]
    Interrupted {
        file: PathBuf,
        done: u64,
        total: u64,
        reason: String,
    },
    /// The content does not hash to what the Hub published; the download was deleted.
    #[error(
        "{file}: {kind} {actual} ({size} bytes), the Hub says {expected} ({expected_size} bytes): download deleted"
    )]
    Checksum {
        file: PathBuf,
        kind: &'static str,
        expected: String,
        actual: String,
        expected_size: u64,
        size: u64,
    },
    #[error("disk full writing {path}")]
    DiskFull { path: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("download cancelled")]
    Cancelled,
}

impl HubError {
    /// A file-system error on `path`, told apart when the disk is full.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::StorageFull {
            Self::DiskFull { path }
        } else {
            Self::Io { path, source }
        }
    }
}

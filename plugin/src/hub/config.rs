//! Where to download from and which local hub cache to reuse, from the environment variables
//! the `huggingface_hub` Python library reads.

use std::path::PathBuf;

/// The public Hub, used when `HF_ENDPOINT` is not set.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubConfig {
    /// Base URL without a trailing slash (`HF_ENDPOINT`).
    pub endpoint: String,
    /// Sent as `Authorization: Bearer` to the endpoint only (`HF_TOKEN`, else the token file
    /// `huggingface-cli login` writes to `$HF_HOME/token`).
    pub token: Option<String>,
    /// The `huggingface_hub` cache whose snapshots are reused without network traffic
    /// (`HF_HUB_CACHE`, else `$HF_HOME/hub`, `HF_HOME` defaulting to `~/.cache/huggingface`).
    pub cache: Option<PathBuf>,
    /// No network at all: only files already there or in the cache (`HF_HUB_OFFLINE=1`).
    pub offline: bool,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn hf_home() -> Option<PathBuf> {
    env("HF_HOME").map(PathBuf::from).or_else(|| {
        let home = if cfg!(windows) {
            env("USERPROFILE")
        } else {
            env("HOME")
        };
        let cache = env("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| home.map(|h| PathBuf::from(h).join(".cache")))?;
        Some(cache.join("huggingface"))
    })
}

impl HubConfig {
    pub fn from_env() -> Self {
        let endpoint = env("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
        let token = env("HF_TOKEN").or_else(|| {
            let file = hf_home()?.join("token");
            let token = std::fs::read_to_string(file).ok()?;
            Some(token.trim().to_owned()).filter(|t| !t.is_empty())
        });
        let cache = env("HF_HUB_CACHE")
            .map(PathBuf::from)
            .or_else(|| hf_home().map(|home| home.join("hub")));
        let offline = env("HF_HUB_OFFLINE").is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "on" | "yes" | "true"
            )
        });
        Self {
            endpoint: endpoint.trim().trim_end_matches('/').to_owned(),
            token: token.map(|t| t.trim().to_owned()),
            cache,
            offline,
        }
    }
}

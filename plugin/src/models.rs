//! Where the model weights live and loading them once per process.
//!
//! The model folder is, in this order: the one chosen in the editor (persisted with the
//! project), `$VOCOS_MODEL_DIR`, or the user data folder (`$XDG_DATA_HOME/vocos-plugin/models`
//! on Linux, `~/Library/Application Support/vocos-plugin/models` on macOS,
//! `%APPDATA%\vocos-plugin\models` on Windows). It holds the hub downloads under their repository
//! names: `encodec_24khz/`, `vocos-encodec-24khz/`, `vocos-mel-24khz/` (any layout the `vocos`
//! command accepts).
//!
//! Loaded models are immutable and shared: every instance in the process that loads the same
//! folder gets the same weights; they are freed when the last instance lets go.

use std::any::Any;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use nice_plug::prelude::{Enum, nice_log};
use vocos_model::encodec::Encodec;
use vocos_model::error::ModelError;
use vocos_model::vocos::Vocos;

pub const ENCODEC_DIR: &str = "encodec_24khz";
pub const VOCOS_ENCODEC_DIR: &str = "vocos-encodec-24khz";
pub const VOCOS_MEL_DIR: &str = "vocos-mel-24khz";

/// What the plugin runs.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// Audio -> EnCodec -> RVQ at the chosen bandwidth -> Vocos.
    #[id = "encodec"]
    #[name = "EnCodec codec"]
    Codec,
    /// Audio -> log-mel -> Vocos (the mel variant).
    #[id = "mel"]
    #[name = "Mel vocoder"]
    Mel,
}

#[derive(Clone)]
pub enum LoadedModel {
    Codec {
        encodec: Arc<Encodec>,
        vocos: Arc<Vocos>,
    },
    Mel {
        vocos: Arc<Vocos>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "no model folder: get the models (Get models in the editor, or `vocos models download`) into {}, choose a folder in the editor, or set VOCOS_MODEL_DIR",
        default_hint()
    )]
    NoFolder,
    #[error("{0}")]
    Model(#[from] ModelError),
    #[error("{path}: {reason}")]
    WrongModel { path: PathBuf, reason: String },
}

fn default_hint() -> String {
    user_models_dir().map_or_else(
        || "the user data folder".into(),
        |p| p.display().to_string(),
    )
}

/// The default model folder in the user's data directory.
pub fn user_models_dir() -> Option<PathBuf> {
    let env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let base = if cfg!(target_os = "windows") {
        env("APPDATA")
    } else if cfg!(target_os = "macos") {
        env("HOME").map(|h| h.join("Library/Application Support"))
    } else {
        env("XDG_DATA_HOME").or_else(|| env("HOME").map(|h| h.join(".local/share")))
    };
    base.map(|b| b.join("vocos-plugin").join("models"))
}

/// `$VOCOS_MODEL_DIR`, if set.
pub fn env_models_dir() -> Option<PathBuf> {
    std::env::var_os("VOCOS_MODEL_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// Where models go when no folder is chosen in the editor (`vocos models download`, the
/// editor's Get models button): `$VOCOS_MODEL_DIR` if set, else the user data folder, so
/// that the plugin finds them.
pub fn default_models_dir() -> Option<PathBuf> {
    env_models_dir().or_else(user_models_dir)
}

/// Where the editor's Get models button downloads to given the folder chosen in the editor
/// (empty if none): that folder, else [`default_models_dir`].
pub fn download_folder(chosen: &str) -> Option<PathBuf> {
    match chosen.trim() {
        "" => default_models_dir(),
        folder => Some(PathBuf::from(folder)),
    }
}

/// The model folder to use given the one chosen in the editor (empty if none).
pub fn model_folder(chosen: &str) -> Result<PathBuf, LoadError> {
    if !chosen.trim().is_empty() {
        return Ok(PathBuf::from(chosen.trim()));
    }
    if let Some(dir) = env_models_dir() {
        return Ok(dir);
    }
    user_models_dir()
        .filter(|d| d.is_dir())
        .ok_or(LoadError::NoFolder)
}

/// Loads the models `kind` needs from `folder`, reusing weights already loaded in this process.
pub fn load(folder: &Path, kind: ModelKind) -> Result<LoadedModel, LoadError> {
    match kind {
        ModelKind::Codec => {
            let encodec = shared(&folder.join(ENCODEC_DIR), Encodec::load)?;
            let path = folder.join(VOCOS_ENCODEC_DIR);
            let vocos = shared(&path, Vocos::load)?;
            if vocos.is_mel() {
                return Err(LoadError::WrongModel {
                    path,
                    reason: "this is the mel variant; the codec needs vocos-encodec-24khz".into(),
                });
            }
            Ok(LoadedModel::Codec { encodec, vocos })
        }
        ModelKind::Mel => {
            let path = folder.join(VOCOS_MEL_DIR);
            let vocos = shared(&path, Vocos::load)?;
            if !vocos.is_mel() {
                return Err(LoadError::WrongModel {
                    path,
                    reason: "this is the EnCodec variant; the mel vocoder needs vocos-mel-24khz"
                        .into(),
                });
            }
            Ok(LoadedModel::Mel { vocos })
        }
    }
}

type Cache = Mutex<HashMap<PathBuf, Weak<dyn Any + Send + Sync>>>;

/// The model at `path`, loaded once per process while anyone holds it.
fn shared<T: Any + Send + Sync>(
    path: &Path,
    load: fn(&Path) -> vocos_model::error::Result<Arc<T>>,
) -> Result<Arc<T>, LoadError> {
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let mut entries = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(model) = entries
        .get(&key)
        .and_then(Weak::upgrade)
        .and_then(|m| m.downcast::<T>().ok())
    {
        return Ok(model);
    }
    let model = load(path)?;
    nice_log!(
        "weights read from {} (shared by every instance in this process)",
        path.display()
    );
    let erased: Arc<dyn Any + Send + Sync> = model.clone();
    entries.insert(key, Arc::downgrade(&erased));
    Ok(model)
}

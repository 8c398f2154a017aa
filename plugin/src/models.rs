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

/// Weights loaded in this process, by canonical folder. Holds them weakly: the instances that
/// use them own them, and an entry whose weights were freed is dropped at the next request.
fn cache() -> &'static Cache {
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The model at `path`, loaded once per process while anyone holds it.
fn shared<T: Any + Send + Sync>(
    path: &Path,
    load: fn(&Path) -> vocos_model::error::Result<Arc<T>>,
) -> Result<Arc<T>, LoadError> {
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let mut entries = cache().lock().unwrap_or_else(|e| e.into_inner());
    entries.retain(|_, model| model.strong_count() > 0);
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Times [`counted_encodec`] read weights from disk.
    static ENCODEC_LOADS: AtomicUsize = AtomicUsize::new(0);

    fn counted_encodec(path: &Path) -> vocos_model::error::Result<Arc<Encodec>> {
        ENCODEC_LOADS.fetch_add(1, Ordering::SeqCst);
        Encodec::load(path)
    }

    /// A model folder of the tiny test models, copied (not linked) so that its canonical paths,
    /// the cache's keys, are this test's own.
    fn tiny_model_folder(name: &str) -> PathBuf {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/fixtures/tiny");
        let folder = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        for (dir, fixture) in [
            (ENCODEC_DIR, "encodec_th"),
            (VOCOS_ENCODEC_DIR, "vocos_encodec"),
            (VOCOS_MEL_DIR, "vocos_mel"),
        ] {
            std::fs::create_dir_all(folder.join(dir)).unwrap();
            for file in std::fs::read_dir(fixtures.join(fixture)).unwrap() {
                let file = file.unwrap().path();
                std::fs::copy(&file, folder.join(dir).join(file.file_name().unwrap())).unwrap();
            }
        }
        folder
    }

    /// Two users of one folder get the same weights from one read; when the last one lets go
    /// the weights are freed, and the next user reads them again.
    #[test]
    fn users_of_one_folder_share_one_load_until_the_last_lets_go() {
        let folder = tiny_model_folder("vocos-shared-weights");
        let encodec_dir = folder.join(ENCODEC_DIR);
        let first = shared(&encodec_dir, counted_encodec).unwrap();
        let second = shared(&encodec_dir, counted_encodec).unwrap();
        assert!(Arc::ptr_eq(&first, &second), "one Arc for both users");
        assert_eq!(
            ENCODEC_LOADS.load(Ordering::SeqCst),
            1,
            "one read from disk"
        );
        // What an instance asks for (`load`) goes through the same cache, for every model the
        // mode needs: the codec's Vocos too, and the same folder named another way.
        let codec = load(&folder, ModelKind::Codec).unwrap();
        let again = load(
            &folder.join(".").join(ENCODEC_DIR).join(".."),
            ModelKind::Codec,
        )
        .unwrap();
        let (
            LoadedModel::Codec { encodec, vocos },
            LoadedModel::Codec {
                encodec: encodec_again,
                vocos: vocos_again,
            },
        ) = (&codec, &again)
        else {
            panic!("the codec mode loads the codec");
        };
        assert!(Arc::ptr_eq(encodec, &first) && Arc::ptr_eq(encodec_again, &first));
        assert!(Arc::ptr_eq(vocos, vocos_again));
        assert_eq!(ENCODEC_LOADS.load(Ordering::SeqCst), 1);

        let freed_encodec = Arc::downgrade(&first);
        let freed_vocos = Arc::downgrade(vocos);
        drop((first, second, codec));
        assert!(freed_encodec.upgrade().is_some(), "a user still holds them");
        drop(again);
        assert!(
            freed_encodec.upgrade().is_none(),
            "the EnCodec weights are freed"
        );
        assert!(
            freed_vocos.upgrade().is_none(),
            "the Vocos weights are freed"
        );

        let reloaded = shared(&encodec_dir, counted_encodec).unwrap();
        assert_eq!(
            ENCODEC_LOADS.load(Ordering::SeqCst),
            2,
            "read again after the last user"
        );
        let key = std::fs::canonicalize(&encodec_dir).unwrap();
        let entries = cache().lock().unwrap();
        let cached = entries[&key].upgrade().unwrap();
        assert!(Arc::ptr_eq(
            &cached.downcast::<Encodec>().unwrap(),
            &reloaded
        ));
        let vocos_key = std::fs::canonicalize(folder.join(VOCOS_ENCODEC_DIR)).unwrap();
        assert!(
            !entries.contains_key(&vocos_key),
            "the entry of freed weights is dropped"
        );
        drop(entries);
        std::fs::remove_dir_all(&folder).unwrap();
    }
}

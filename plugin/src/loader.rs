//! Loads models on a background thread and hands them to the running engine, which swaps them
//! in between frames; downloads them first when asked (the editor's Get models button). Never
//! touched by the audio thread.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_channel::Sender;
use nice_plug::prelude::*;

use crate::codec_processor::ModelProcessor;
use crate::engine::StreamProcessor;
use crate::hub::task::Task;
use crate::hub::{self, HubConfig};
use crate::models::{LoadedModel, ModelKind, download_folder, load, model_folder};
use crate::status::{NO_MODEL, Status};

/// The running engine a loaded model goes to.
pub struct Target {
    pub sender: Sender<Box<dyn StreamProcessor>>,
    pub channels: usize,
    pub kind: ModelKind,
    pub bandwidth: usize,
    pub frames_per_step: usize,
}

#[derive(Default)]
struct State {
    model: Option<(ModelKind, LoadedModel)>,
    target: Option<Target>,
    /// Counts requests; a load that finishes after a newer request is discarded.
    generation: u64,
}

pub struct Loader {
    state: Mutex<State>,
    status: Arc<Status>,
    /// The running or last model download.
    download: Mutex<Option<Arc<Task>>>,
}

impl Drop for Loader {
    /// A download still running when the plugin goes stops (its partial file stays).
    fn drop(&mut self) {
        if let Some(task) = self.download.get_mut().ok().and_then(|d| d.as_ref()) {
            task.cancel();
        }
    }
}

impl Loader {
    pub fn new(status: Arc<Status>) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::default(),
            status,
            download: Mutex::default(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_status(&self, text: String) {
        *self.status.model.lock().unwrap_or_else(|e| e.into_inner()) = text;
    }

    /// The loaded model of `kind`, if any.
    pub fn model(&self, kind: ModelKind) -> Option<LoadedModel> {
        match &self.state().model {
            Some((k, model)) if *k == kind => Some(model.clone()),
            _ => None,
        }
    }

    /// Where models loaded from now on go (called in activate).
    pub fn attach(&self, target: Target) {
        self.state().target = Some(target);
    }

    pub fn detach(&self) {
        self.state().target = None;
    }

    /// Loads `kind` from the folder `chosen` in the editor (empty: `VOCOS_MODEL_DIR`, then the
    /// user data folder) on a background thread (the editor's Load button). The status line
    /// says what happens.
    pub fn request(self: &Arc<Self>, chosen: String, kind: ModelKind) {
        let generation = self.begin(kind);
        let loader = self.clone();
        let spawned = std::thread::Builder::new()
            .name("vocos-model-loader".into())
            .spawn(move || {
                let result = model_folder(&chosen)
                    .and_then(|folder| load(&folder, kind).map(|model| (folder, model)));
                loader.finish(generation, kind, result);
            });
        if let Err(error) = spawned {
            self.set_status(format!("cannot start loading: {error}"));
        }
    }

    /// Downloads every model from the Hugging Face Hub into the folder `chosen` in the editor
    /// (empty: `VOCOS_MODEL_DIR`, then the user data folder) on a background thread, then loads
    /// the model the running engine needs (else `kind`) as [`Loader::request`] does: no host
    /// restart needed. Does nothing while a download runs.
    pub fn get_models(self: &Arc<Self>, chosen: String, kind: ModelKind) {
        let mut download = self.download.lock().unwrap_or_else(|e| e.into_inner());
        if download.as_ref().is_some_and(|task| task.is_running()) {
            return;
        }
        let Some(dir) = download_folder(&chosen) else {
            self.set_status(
                "Cannot download: no user data folder (HOME is not set); choose a model folder."
                    .into(),
            );
            return;
        };
        // Weak: a plugin removed mid-download is not kept alive by it.
        let loader = Arc::downgrade(self);
        let then_load = move || {
            if let Some(loader) = loader.upgrade() {
                let kind = loader.state().target.as_ref().map_or(kind, |t| t.kind);
                loader.request(chosen, kind);
            }
        };
        match Task::spawn(dir, hub::ALL.to_vec(), HubConfig::from_env(), then_load) {
            Ok(task) => *download = Some(task),
            Err(error) => self.set_status(format!("Cannot start the download: {error}")),
        }
    }

    /// The running or last download, if any.
    pub fn download_task(&self) -> Option<Arc<Task>> {
        self.download
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Loads `kind` on the calling thread and returns it (activation: a bounce must run the
    /// model from its first sample; weights another instance loaded are reused at once).
    pub fn load_now(&self, chosen: &str, kind: ModelKind) -> Option<LoadedModel> {
        let generation = self.begin(kind);
        let result = model_folder(chosen)
            .and_then(|folder| load(&folder, kind).map(|model| (folder, model)));
        self.finish(generation, kind, result);
        self.model(kind)
    }

    /// Starts a request: newer than any load still running.
    fn begin(&self, kind: ModelKind) -> u64 {
        let generation = {
            let mut state = self.state();
            state.generation += 1;
            state.generation
        };
        self.set_status(format!("Loading the {} model...", kind_name(kind)));
        generation
    }

    fn finish(
        &self,
        generation: u64,
        kind: ModelKind,
        result: Result<(PathBuf, LoadedModel), crate::models::LoadError>,
    ) {
        let mut state = self.state();
        if state.generation != generation {
            return;
        }
        match result {
            Ok((folder, model)) => {
                let mut text = format!("{} from {}", kind_name(kind), folder.display());
                if let Some(target) = state.target.as_ref().filter(|t| t.kind == kind) {
                    match ModelProcessor::new(
                        &model,
                        target.channels,
                        target.bandwidth,
                        target.frames_per_step,
                    ) {
                        Ok(processor) => {
                            // A full slot means a swap is pending: the engine takes that one.
                            let _ = target.sender.try_send(Box::new(processor));
                        }
                        Err(error) => text = format!("cannot run {}: {error}", kind_name(kind)),
                    }
                }
                nice_log!("model loaded: {text}");
                state.model = Some((kind, model));
                drop(state);
                self.set_status(text);
            }
            Err(error) => {
                nice_error!("model not loaded: {error}");
                drop(state);
                // The reason starts a sentence here.
                let reason = error.to_string();
                let mut chars = reason.chars();
                let first = chars.next().map(|c| c.to_uppercase().collect::<String>());
                self.set_status(format!(
                    "{NO_MODEL} {}{}",
                    first.unwrap_or_default(),
                    chars.as_str()
                ));
            }
        }
    }
}

fn kind_name(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::Codec => "EnCodec + Vocos",
        ModelKind::Mel => "Vocos mel",
    }
}

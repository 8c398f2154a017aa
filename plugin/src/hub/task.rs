//! A download running on its own thread, for the editor: its progress is read from atomics
//! while it runs (the editor draws a bar), and it stops soon after [`Task::cancel`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::{HubConfig, ModelRepo, Outcome, Progress, download};
use crate::hub::HubError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    Running,
    Finished,
    Cancelled,
    /// The error, in words.
    Failed(String),
}

/// Where a running download is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// `org/name/file` being fetched (empty before the first).
    pub file: String,
    pub done: u64,
    pub total: u64,
    /// Files in place so far, of `files`.
    pub files_done: usize,
    pub files: usize,
}

pub struct Task {
    /// The folder the models go to.
    pub dir: PathBuf,
    cancel: AtomicBool,
    file: Mutex<String>,
    done: AtomicU64,
    total: AtomicU64,
    files_done: AtomicUsize,
    files: usize,
    state: Mutex<TaskState>,
}

impl Task {
    /// Starts downloading `repos` into `dir` on a new thread; `on_success` runs on that thread
    /// once every file is in place.
    pub fn spawn(
        dir: PathBuf,
        repos: Vec<&'static ModelRepo>,
        config: HubConfig,
        on_success: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<Arc<Self>> {
        let task = Arc::new(Self {
            dir,
            cancel: AtomicBool::new(false),
            file: Mutex::default(),
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
            files_done: AtomicUsize::new(0),
            files: repos.iter().map(|r| r.files.len()).sum(),
            state: Mutex::new(TaskState::Running),
        });
        let running = task.clone();
        std::thread::Builder::new()
            .name("vocos-model-download".into())
            .spawn(move || {
                let result = download(&running.dir, &repos, &config, &*running, &running.cancel);
                let state = match result {
                    Ok(()) => TaskState::Finished,
                    Err(HubError::Cancelled) => TaskState::Cancelled,
                    Err(error) => TaskState::Failed(error.to_string()),
                };
                let finished = state == TaskState::Finished;
                *running.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
                if finished {
                    on_success();
                }
            })?;
        Ok(task)
    }

    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    pub fn is_running(&self) -> bool {
        self.state() == TaskState::Running
    }

    pub fn state(&self) -> TaskState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            file: self.file.lock().map(|f| f.clone()).unwrap_or_default(),
            done: self.done.load(Ordering::Relaxed),
            total: self.total.load(Ordering::Relaxed),
            files_done: self.files_done.load(Ordering::Relaxed),
            files: self.files,
        }
    }
}

impl Progress for Task {
    fn start(&self, repo: &ModelRepo, file: &str, total: u64, done: u64) {
        if let Ok(mut name) = self.file.lock() {
            *name = format!("{}/{file}", repo.id);
        }
        self.total.store(total, Ordering::Relaxed);
        self.done.store(done, Ordering::Relaxed);
    }

    fn advance(&self, done: u64) {
        self.done.store(done, Ordering::Relaxed);
    }

    fn finish(&self, _repo: &ModelRepo, _file: &str, _outcome: Outcome) {
        self.files_done.fetch_add(1, Ordering::Relaxed);
    }
}

//! The editor's Get models path (`Loader::get_models`) against a local server that answers
//! like the Hugging Face Hub: the download runs on its own thread with progress, Cancel stops it
//! without installing anything, and a finished download loads the model without a restart.

mod hub_server;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hub_server::{Faults, HubServer};
use vocos_plugin::hub::record::SOURCE_FILE;
use vocos_plugin::hub::task::TaskState;
use vocos_plugin::loader::Loader;
use vocos_plugin::models::ModelKind;
use vocos_plugin::status::Status;

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn get_models_downloads_in_the_background_cancels_and_loads_without_restart() {
    let server = HubServer::start(Faults {
        throttle: true,
        ..Faults::default()
    });
    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("editor_download");
    let _ = std::fs::remove_dir_all(&scratch);
    // SAFETY: set before any thread of this test binary reads the environment; the test
    // binary has only this test.
    unsafe {
        std::env::set_var("HF_ENDPOINT", server.url());
        std::env::set_var("HF_HOME", scratch.join("hf_home"));
        std::env::remove_var("HF_TOKEN");
        std::env::remove_var("HF_HUB_CACHE");
        std::env::remove_var("HF_HUB_OFFLINE");
    }
    let models = scratch.join("models");
    let chosen = models.display().to_string();
    let status = Arc::new(Status::default());
    let loader = Loader::new(status.clone());

    // Cancel while the first weights file is coming in: nothing gets installed.
    loader.get_models(chosen.clone(), ModelKind::Codec);
    let task = loader.download_task().expect("a download");
    wait_for("the weights to start", || {
        let at = task.snapshot();
        at.file.ends_with("model.safetensors") && at.done > 100_000
    });
    let progress = task.snapshot();
    assert_eq!((progress.files_done, progress.files), (1, 6));
    assert_eq!(progress.total, 2_103_904);
    task.cancel();
    wait_for("the cancel", || task.state() != TaskState::Running);
    assert_eq!(task.state(), TaskState::Cancelled);
    let folder = models.join("encodec_24khz");
    assert!(!folder.join("model.safetensors").exists());
    assert!(!folder.join(SOURCE_FILE).exists());
    assert!(loader.model(ModelKind::Codec).is_none());

    // Get models again: resumes, finishes, and the model loads.
    server.take_log();
    server.set_faults(Faults::default());
    loader.get_models(chosen, ModelKind::Codec);
    let task = loader.download_task().expect("a download");
    wait_for("the download", || task.state() != TaskState::Running);
    assert_eq!(task.state(), TaskState::Finished);
    assert!(
        server
            .take_log()
            .iter()
            .any(|r| r.range.as_deref().is_some_and(|r| r.starts_with("bytes="))),
        "the second download resumes"
    );
    wait_for("the model to load", || {
        loader.model(ModelKind::Codec).is_some()
    });
    let text = status.model.lock().unwrap().clone();
    assert_eq!(text, format!("EnCodec + Vocos from {}", models.display()));
}

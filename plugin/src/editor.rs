//! The egui editor: the parameters (Model and Bandwidth as one button per choice, Mix and
//! Output Gain as sliders), the latency, the model status, the underrun count, the model
//! folder with **Get models** (download from the Hugging Face Hub, with progress and Cancel)
//! and where each model came from with its license.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use nice_plug::context::gui::{GuiContext, ParamSetter};
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::params::EnumParam;
use nice_plug::prelude::Enum;
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{
    EguiEditor, EguiEditorState, EguiNiceSettings, NiceEguiApp, create_egui_editor,
};
use nice_plug_egui::{Frame, RepaintNotifier};

use crate::hub::task::TaskState;
use crate::hub::{self, FolderReport};
use crate::loader::Loader;
use crate::models::{ModelKind, download_folder, model_folder};
use crate::params::{Latency, VocosParams};
use crate::status::Status;

/// How often the open editor refreshes the status it shows.
const REFRESH: Duration = Duration::from_millis(100);
/// How often it looks at the model folders again (file-system reads).
const FOLDER_REFRESH: Duration = Duration::from_secs(1);

pub fn default_state() -> Arc<EguiEditorState> {
    EguiEditorState::from_size(LogicalSize::new(560.0, 560.0), 1.0)
}

pub fn create(
    params: Arc<VocosParams>,
    status: Arc<Status>,
    loader: Arc<Loader>,
    state: Arc<EguiEditorState>,
) -> Option<EguiEditor<EditorApp>> {
    let settings = EguiNiceSettings::new()
        .with_tile("Vocos Codec")
        .with_repaint_poll_interval(REFRESH);
    let notifier = RepaintNotifier::new();
    let folder = params
        .model_path
        .lock()
        .map(|p| p.clone())
        .unwrap_or_default();
    let app = EditorApp {
        params,
        status,
        loader,
        folder,
        gui: None,
        notifier: notifier.clone(),
        folders: None,
    };
    create_egui_editor(state, notifier, settings, app)
}

pub struct EditorApp {
    params: Arc<VocosParams>,
    status: Arc<Status>,
    loader: Arc<Loader>,
    /// The model folder being edited (persisted when loaded).
    folder: String,
    gui: Option<GuiContext>,
    notifier: RepaintNotifier,
    /// The model folder in use and what its sub-folders hold, looked at when.
    folders: Option<(Instant, Option<PathBuf>, Vec<FolderReport>)>,
}

impl NiceEguiApp for EditorApp {
    fn build(
        &mut self,
        _egui: egui::Context,
        gui: GuiContext,
        _frame: &mut Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        self.gui = Some(gui);
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut Frame) {
        egui::Frame::new()
            .inner_margin(14.0)
            .show(ui, |ui| self.contents(ui));
        // The status changes without user input: keep repainting while open.
        self.notifier.request_repaint();
    }

    fn editor_closed(&mut self) {
        self.gui = None;
    }
}

/// One button per choice of an enum parameter; a click sets it as one host gesture.
fn choices<T: Enum + PartialEq + 'static>(
    ui: &mut egui::Ui,
    param: &EnumParam<T>,
    setter: &ParamSetter,
) {
    ui.horizontal(|ui| {
        let current = param.value().to_index();
        for (index, name) in T::variants().iter().enumerate() {
            if ui.selectable_label(index == current, *name).clicked() && index != current {
                setter.begin_set_parameter(param);
                setter.set_parameter(param, T::from_index(index));
                setter.end_set_parameter(param);
            }
        }
    });
}

impl EditorApp {
    /// The latency-changing choices made since the engine started ("Mel vocoder, Low CPU"),
    /// if any: they wait for the host to restart the plugin.
    fn pending_restart(&self) -> Option<String> {
        let status = &self.status;
        let model = self.params.model.value().to_index();
        let latency = self.params.latency.value().to_index();
        let active_model = status.active_model.load(Ordering::Relaxed);
        let active_latency = status.active_latency.load(Ordering::Relaxed);
        if active_model == usize::MAX {
            return None;
        }
        let mut pending = Vec::new();
        if model != active_model {
            pending.push(ModelKind::variants()[model]);
        }
        if latency != active_latency {
            pending.push(Latency::variants()[latency]);
        }
        (!pending.is_empty()).then(|| pending.join(", "))
    }

    fn contents(&mut self, ui: &mut egui::Ui) {
        let Some(gui) = &self.gui else {
            return;
        };
        let setter = gui.param_setter();
        ui.heading("Vocos Codec");
        ui.label("EnCodec 24 kHz -> RVQ -> Vocos resynthesis");
        ui.separator();
        egui::Grid::new("params")
            .num_columns(2)
            .spacing([12.0, 8.0])
            .show(ui, |ui| {
                ui.label("Model").on_hover_text(
                "The models differ in latency: changing the model restarts the plugin in the host.",
            );
                choices(ui, &self.params.model, &setter);
                ui.end_row();
                ui.label("Bandwidth");
                choices(ui, &self.params.bandwidth, &setter);
                ui.end_row();
                ui.label("Latency").on_hover_text(
                    "Standard: the model runs 4 frames per step. Low CPU: 8 frames per step, \
                     about a fifth less CPU for 8 more frames of latency. Changing it restarts \
                     the plugin in the host.",
                );
                choices(ui, &self.params.latency, &setter);
                ui.end_row();
                ui.label("Mix");
                ui.add(ParamSlider::for_param(&self.params.mix, &setter));
                ui.end_row();
                ui.label("Output Gain");
                ui.add(ParamSlider::for_param(&self.params.gain, &setter));
                ui.end_row();
            });
        ui.separator();
        let status = &self.status;
        egui::Grid::new("status")
            .num_columns(2)
            .spacing([12.0, 6.0])
            .show(ui, |ui| {
                ui.label("Reported latency");
                ui.label(status.latency_text().unwrap_or_else(|| "not active".into()));
                ui.end_row();
                if let Some(rate) = status.rate_text() {
                    ui.label("Sample rate");
                    ui.add(egui::Label::new(rate).wrap());
                    ui.end_row();
                }
                if let Some(pending) = self.pending_restart() {
                    ui.label("");
                    let note = format!("{pending}: applied when the host restarts the plugin");
                    let text = egui::RichText::new(note).color(ui.visuals().warn_fg_color);
                    ui.add(egui::Label::new(text).wrap());
                    ui.end_row();
                }
                ui.label("Loaded");
                let model = status.model.lock().map(|m| m.clone()).unwrap_or_default();
                ui.add(egui::Label::new(model).wrap());
                ui.end_row();
                ui.label("Underruns").on_hover_text(
                "Blocks the inference thread was late for: they play silence, the timing stays.",
            );
                ui.label(status.underruns.load(Ordering::Relaxed).to_string());
                ui.end_row();
                if let Some(problems) = status.audio_problems() {
                    ui.label("Audio");
                    let text = egui::RichText::new(problems).color(ui.visuals().warn_fg_color);
                    ui.add(egui::Label::new(text).wrap());
                    ui.end_row();
                }
            });
        ui.separator();
        ui.horizontal(|ui| {
            ui.label("Model folder");
            ui.add(
                egui::TextEdit::singleline(&mut self.folder).hint_text("empty: the default folder"),
            )
            .on_hover_text(
                "Holds encodec_24khz/, vocos-encodec-24khz/ and vocos-mel-24khz/ as downloaded \
                 from the hub. Empty: $VOCOS_MODEL_DIR, then the user data folder.",
            );
            if ui.button("Load").clicked() {
                self.save_folder();
                self.loader
                    .request(self.folder.clone(), self.params.model.value());
            }
        });
        self.download_row(ui);
        ui.separator();
        self.sources(ui);
    }

    fn save_folder(&self) {
        if let Ok(mut path) = self.params.model_path.lock() {
            path.clone_from(&self.folder);
        }
    }

    /// **Get models** while the model is not loaded, with the outcome of the last download; a
    /// progress bar and Cancel while downloading.
    fn download_row(&mut self, ui: &mut egui::Ui) {
        let task = self.loader.download_task();
        if let Some(task) = task.as_ref().filter(|t| t.is_running()) {
            let at = task.snapshot();
            ui.horizontal(|ui| {
                let fraction = if at.total > 0 {
                    at.done as f32 / at.total as f32
                } else {
                    0.0
                };
                let text = format!(
                    "file {} of {}: {} ({:.1} of {:.1} MB)",
                    (at.files_done + 1).min(at.files),
                    at.files,
                    at.file,
                    at.done as f64 / 1e6,
                    at.total as f64 / 1e6
                );
                ui.add(
                    egui::ProgressBar::new(fraction)
                        .text(text)
                        .desired_width(440.0),
                );
                if ui.button("Cancel").clicked() {
                    task.cancel();
                }
            });
            return;
        }
        let kind = self.params.model.value();
        if self.loader.model(kind).is_some() {
            return;
        }
        match task.map(|t| t.state()) {
            Some(TaskState::Failed(error)) => {
                let text = format!("Download failed: {error}");
                let text = egui::RichText::new(text).color(ui.visuals().error_fg_color);
                ui.add(egui::Label::new(text).wrap());
            }
            Some(TaskState::Cancelled) => {
                ui.label("Download cancelled; Get models resumes it.");
            }
            _ => {}
        }
        let into = download_folder(&self.folder)
            .map_or("the model folder".into(), |d| d.display().to_string());
        let button = ui.button("Get models").on_hover_text(format!(
            "Downloads EnCodec (facebook/encodec_24khz, {}) and Vocos (charactr/vocos-encodec-24khz \
             and charactr/vocos-mel-24khz, {}) from the Hugging Face Hub into {into}, checks \
             them and loads the model. Files already there are kept.",
            hub::catalogue::ENCODEC.license,
            hub::catalogue::VOCOS_MEL.license,
        ));
        if button.clicked() {
            self.save_folder();
            self.loader.get_models(self.folder.clone(), kind);
            self.folders = None;
        }
    }

    /// Each model's repository, revision and license, for the model folder in use.
    fn sources(&mut self, ui: &mut egui::Ui) {
        let stale = self
            .folders
            .as_ref()
            .is_none_or(|(at, ..)| at.elapsed() >= FOLDER_REFRESH);
        if stale {
            let dir = model_folder(&self.folder).ok();
            let reports = dir.as_ref().map_or_else(Vec::new, |dir| {
                hub::ALL
                    .iter()
                    .map(|&repo| FolderReport::inspect(dir, repo, false))
                    .collect()
            });
            self.folders = Some((Instant::now(), dir, reports));
        }
        let Some((_, dir, reports)) = &self.folders else {
            return;
        };
        ui.label(match dir {
            Some(dir) => format!("Models in {}", dir.display()),
            None => "No model folder yet.".into(),
        });
        egui::Grid::new("sources")
            .num_columns(3)
            .spacing([12.0, 4.0])
            .show(ui, |ui| {
                ui.strong("Repository");
                ui.strong("Revision");
                ui.strong("License (model card)");
                ui.end_row();
                for repo in hub::ALL {
                    let report = reports.iter().find(|r| r.repo == repo);
                    ui.hyperlink_to(repo.id, repo.card_url());
                    let revision = match report {
                        Some(r) if r.complete() => r.source.as_ref().map_or_else(
                            || "unrecorded".to_owned(),
                            |s| s.commit.chars().take(8).collect(),
                        ),
                        // Other files, e.g. the original `encodec_24khz-d7cc33bc.th`.
                        Some(r) if !r.others.is_empty() => "by hand".to_owned(),
                        _ => "missing".to_owned(),
                    };
                    ui.label(revision).on_hover_text(
                        "The commit the files were downloaded from (source.json); \
                         unrecorded or by hand: the files were put there by hand (by hand: in \
                         another layout than the Hub repository's, e.g. the original .th).",
                    );
                    ui.label(repo.license);
                    ui.end_row();
                }
            });
    }
}

//! The egui editor: the three parameters, the latency, the model status and the underrun count.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{
    EguiEditor, EguiEditorState, EguiNiceSettings, NiceEguiApp, create_egui_editor,
};
use nice_plug_egui::{Frame, RepaintNotifier};

use crate::params::VocosParams;
use crate::status::Status;

/// How often the open editor refreshes the status it shows.
const REFRESH: Duration = Duration::from_millis(100);

pub fn default_state() -> Arc<EguiEditorState> {
    EguiEditorState::from_size(LogicalSize::new(420.0, 260.0), 1.0)
}

pub fn create(
    params: Arc<VocosParams>,
    status: Arc<Status>,
    state: Arc<EguiEditorState>,
) -> Option<EguiEditor<EditorApp>> {
    let settings = EguiNiceSettings::new()
        .with_tile("Vocos Codec")
        .with_repaint_poll_interval(REFRESH);
    let notifier = RepaintNotifier::new();
    let app = EditorApp {
        params,
        status,
        gui: None,
        notifier: notifier.clone(),
    };
    create_egui_editor(state, notifier, settings, app)
}

pub struct EditorApp {
    params: Arc<VocosParams>,
    status: Arc<Status>,
    gui: Option<GuiContext>,
    notifier: RepaintNotifier,
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
        let Some(gui) = &self.gui else {
            return;
        };
        let setter = gui.param_setter();
        ui.heading("Vocos Codec");
        ui.label("EnCodec 24 kHz -> RVQ -> Vocos resynthesis");
        ui.separator();
        egui::Grid::new("params").num_columns(2).show(ui, |ui| {
            ui.label("Bandwidth");
            ui.add(ParamSlider::for_param(&self.params.bandwidth, &setter));
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
        egui::Grid::new("status").num_columns(2).show(ui, |ui| {
            ui.label("Latency");
            ui.label(status.latency_text().unwrap_or_else(|| "not active".into()));
            ui.end_row();
            ui.label("Model");
            let model = status.model.lock().map(|m| m.clone()).unwrap_or_default();
            ui.label(model);
            ui.end_row();
            ui.label("Underruns");
            ui.label(status.underruns.load(Ordering::Relaxed).to_string());
            ui.end_row();
        });
        // The status changes without user input: keep repainting while open.
        self.notifier.request_repaint();
    }

    fn editor_closed(&mut self) {
        self.gui = None;
    }
}

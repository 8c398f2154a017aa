//! The nice-plug plugin "Vocos Codec": host audio through the real-time [`Engine`].

use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use nice_plug::prelude::*;
use nice_plug_egui::EguiEditorState;

use crate::codec_processor::{ModelProcessor, frame_and_latency};
use crate::editor;
use crate::engine::{Engine, EngineSetup, MODEL_RATE, Passthrough, Playhead, StreamProcessor};
use crate::loader::{Loader, Target};
use crate::models::ModelKind;
use crate::params::{Latency, VocosParams};
use crate::status::Status;

pub struct VocosCodec {
    params: Arc<VocosParams>,
    status: Arc<Status>,
    editor_state: Arc<EguiEditorState>,
    /// Running engine between activate and deactivate; `None` if activation failed, and then
    /// audio passes through untouched.
    engine: Option<Engine>,
    /// Whether `process` waits for the worker (offline rendering).
    offline: bool,
    /// The bandwidth index last sent to the engine.
    sent_bandwidth: Option<usize>,
    loader: Arc<Loader>,
    /// The model kind and step size the running engine was set up for.
    active_kind: ModelKind,
    active_latency: Latency,
    /// Whether a host restart was requested for a changed model kind or step size.
    restart_requested: bool,
}

impl Default for VocosCodec {
    fn default() -> Self {
        let status = Arc::new(Status::default());
        Self {
            params: Arc::new(VocosParams::default()),
            loader: Loader::new(status.clone()),
            status,
            editor_state: editor::default_state(),
            engine: None,
            offline: false,
            sent_bandwidth: None,
            active_kind: ModelKind::Codec,
            active_latency: Latency::Standard,
            restart_requested: false,
        }
    }
}

impl Plugin for VocosCodec {
    const NAME: &'static str = "Vocos Codec";
    const VENDOR: &'static str = "vocos-plugin";
    const URL: &'static str = "https://github.com/vocos-plugin/vocos-plugin";
    const EMAIL: &'static str = "";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            ..AudioIOLayout::const_default()
        },
    ];

    /// Blocks are split at parameter changes, so a bandwidth change reaches the engine with
    /// the sample it happens at.
    const SAMPLE_ACCURATE_AUTOMATION: bool = true;

    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    type Editor = nice_plug_egui::EguiEditor<editor::EditorApp>;

    fn editor(&mut self, _executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(
            self.params.clone(),
            self.status.clone(),
            self.loader.clone(),
            self.editor_state.clone(),
        )
    }

    fn activate(
        &mut self,
        layout: &AudioIOLayout,
        config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let channels = layout.main_output_channels.map_or(0, |c| c.get() as usize);
        let setup = EngineSetup {
            host_rate: config.sample_rate.round() as u32,
            channels,
            max_block: config.max_buffer_size as usize,
            detect_fast_host: true,
        };
        // Drop the previous engine (joining its worker) before starting the next one.
        self.engine = None;
        self.loader.detach();
        let kind = self.params.model.value();
        let mode = self.params.latency.value();
        let frames_per_step = mode.frames_per_step();
        let bandwidth = self.params.bandwidth.value().index();
        let (frame, model_latency) = frame_and_latency(kind);
        let model = self.loader.model(kind).or_else(|| {
            let chosen = self
                .params
                .model_path
                .lock()
                .map(|p| p.clone())
                .unwrap_or_default();
            self.loader.load_now(&chosen, kind)
        });
        let processor: Box<dyn StreamProcessor> = match model
            .as_ref()
            .map(|m| ModelProcessor::new(m, channels.max(1), bandwidth, frames_per_step))
        {
            Some(Ok(processor)) => Box::new(processor),
            _ => Box::new(Passthrough::new(
                frame,
                frames_per_step,
                model_latency,
                channels.max(1),
            )),
        };
        match Engine::start(setup, processor) {
            Ok(engine) => {
                let latency = engine.latency() as u32;
                context.set_latency_samples(latency);
                self.status.latency.store(latency, Ordering::Relaxed);
                self.status
                    .sample_rate
                    .store(setup.host_rate, Ordering::Relaxed);
                self.status.underruns.store(0, Ordering::Relaxed);
                self.status.broken_input_blocks.store(0, Ordering::Relaxed);
                self.status.model_resets.store(0, Ordering::Relaxed);
                *self
                    .status
                    .failures
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = engine.failures();
                self.status
                    .ignores_transport
                    .store(false, Ordering::Relaxed);
                self.status
                    .active_model
                    .store(kind.to_index(), Ordering::Relaxed);
                self.status
                    .active_latency
                    .store(mode.to_index(), Ordering::Relaxed);
                nice_log!(
                    "activated: {} Hz, {channels} ch, blocks up to {}, latency {latency} samples \
                     ({model_latency} of them the model's at {MODEL_RATE} Hz)",
                    setup.host_rate,
                    setup.max_block
                );
                self.loader.attach(Target {
                    sender: engine.processor_sender(),
                    channels: channels.max(1),
                    kind,
                    bandwidth,
                    frames_per_step,
                });
                self.engine = Some(engine);
                self.offline = config.process_mode == ProcessMode::Offline;
                self.sent_bandwidth = None;
                self.active_kind = kind;
                self.active_latency = mode;
                self.restart_requested = false;
                true
            }
            Err(error) => {
                nice_error!("cannot activate: {error}");
                false
            }
        }
    }

    fn reset(&mut self) {
        if let Some(engine) = &mut self.engine {
            engine.reset();
        }
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let changed = self.params.model.value() != self.active_kind
            || self.params.latency.value() != self.active_latency;
        if changed && !self.restart_requested {
            // Another model or step size has another latency: only a restart can report it.
            context.request_restart();
            self.restart_requested = true;
        }
        let Some(engine) = &mut self.engine else {
            return ProcessStatus::Normal;
        };
        let transport = context.transport();
        engine.follow_transport(transport.pos_samples().map(|position| Playhead {
            playing: transport.playing,
            position,
        }));
        let bandwidth = self.params.bandwidth.value().index();
        if self.sent_bandwidth != Some(bandwidth) {
            engine.set_bandwidth(bandwidth, 0);
            self.sent_bandwidth = Some(bandwidth);
        }
        let params = &self.params;
        engine.process(buffer.as_slice(), self.offline, || {
            let mix = params.mix.smoothed.next();
            let gain = util::db_to_gain_fast(params.gain.smoothed.next());
            (mix, gain)
        });
        self.status.follow(engine);
        ProcessStatus::Normal
    }

    fn deactivate(&mut self) {
        self.loader.detach();
        if let Some(engine) = self.engine.take() {
            let underruns = engine.underruns();
            if underruns > 0 {
                nice_log!(
                    "deactivated after {underruns} underruns (blocks the worker was late for)"
                );
            }
        }
    }
}

impl ClapPlugin for VocosCodec {
    const CLAP_ID: &'static str = "org.vocos-plugin.vocos-codec";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Neural codec resynthesis: EnCodec 24 kHz -> RVQ -> Vocos");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Stereo,
        ClapFeature::Mono,
        ClapFeature::Distortion,
    ];
}

impl Vst3Plugin for VocosCodec {
    const VST3_CLASS_ID: [u8; 16] = *b"VocosCodecPlugn1";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Distortion];
}

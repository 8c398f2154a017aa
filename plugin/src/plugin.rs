//! The nice-plug plugin "Vocos Codec": host audio through the real-time [`Engine`].

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use nice_plug::prelude::*;
use nice_plug_egui::EguiEditorState;

use crate::editor;
use crate::engine::{Engine, EngineSetup, Passthrough};
use crate::params::VocosParams;
use crate::status::{NO_MODEL, Status};

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
}

impl Default for VocosCodec {
    fn default() -> Self {
        Self {
            params: Arc::new(VocosParams::default()),
            status: Arc::new(Status::default()),
            editor_state: editor::default_state(),
            engine: None,
            offline: false,
            sent_bandwidth: None,
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
        match Engine::start(setup, Box::new(Passthrough::new())) {
            Ok(engine) => {
                let latency = engine.latency() as u32;
                context.set_latency_samples(latency);
                self.status.latency.store(latency, Ordering::Relaxed);
                self.status
                    .sample_rate
                    .store(setup.host_rate, Ordering::Relaxed);
                self.status.underruns.store(0, Ordering::Relaxed);
                nice_log!(
                    "activated: {} Hz, {channels} ch, blocks up to {}, latency {latency} samples; {NO_MODEL}",
                    setup.host_rate,
                    setup.max_block
                );
                self.engine = Some(engine);
                self.offline = config.process_mode == ProcessMode::Offline;
                self.sent_bandwidth = None;
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
        _context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let Some(engine) = &mut self.engine else {
            return ProcessStatus::Normal;
        };
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
        self.status
            .underruns
            .store(engine.underruns(), Ordering::Relaxed);
        ProcessStatus::Normal
    }

    fn deactivate(&mut self) {
        self.engine = None;
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

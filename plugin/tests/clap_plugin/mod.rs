//! A CLAP test host over clack-host: one instance of the plugin from the bundle `cargo xtask
//! test` built, as a [`Host`] (ports, parameters, state, rendering with parameter changes and
//! transport).

#![allow(dead_code)] // each test binary uses its own subset

use std::sync::atomic::{AtomicBool, Ordering};

use clack_extensions::audio_ports::{AudioPortInfoBuffer, PluginAudioPorts};
use clack_extensions::audio_ports_config::{AudioPortsConfigBuffer, PluginAudioPortsConfig};
use clack_extensions::latency::PluginLatency;
use clack_extensions::params::{ParamInfoBuffer, PluginParams};
use clack_extensions::render::{PluginRender, RenderMode};
use clack_extensions::state::PluginState;
use clack_host::events::event_types::{ParamValueEvent, TransportEvent, TransportFlags};
use clack_host::events::{EventFlags, EventHeader};
use clack_host::prelude::*;
use clack_host::utils::{BeatTime, SecondsTime};

use crate::host_common::*;

pub const PLUGIN_ID: &[u8] = b"org.vocos-plugin.vocos-codec";

pub struct TestShared {
    pub restart_requested: AtomicBool,
}

impl SharedHandler<'_> for TestShared {
    fn request_restart(&self) {
        self.restart_requested.store(true, Ordering::Relaxed);
    }
    fn request_process(&self) {}
    fn request_callback(&self) {}
}

pub struct TestHost;

impl HostHandlers for TestHost {
    type Shared<'a> = TestShared;
    type MainThread<'a> = ();
    type AudioProcessor<'a> = ();
}

/// One plugin instance and the entry it came from.
pub struct Clap {
    pub instance: PluginInstance<TestHost>,
    _entry: PluginEntry,
}

impl Host for Clap {
    const NAME: &'static str = "CLAP";

    fn load() -> Self {
        let path = clap_path();
        // SAFETY: the bundle is our own plugin, built for this test.
        let entry = unsafe { PluginEntry::load(&path) }
            .unwrap_or_else(|e| panic!("loading {}: {e:?}", path.display()));
        let host = HostInfo::new("vocos clap host test", "vocos-plugin", "", "1").unwrap();
        let id = c"org.vocos-plugin.vocos-codec";
        let instance = PluginInstance::<TestHost>::new(
            |_| TestShared {
                restart_requested: AtomicBool::new(false),
            },
            |_| (),
            &entry,
            id,
            &host,
        )
        .expect("instantiating the plugin");
        Self {
            instance,
            _entry: entry,
        }
    }

    fn channels(&mut self) -> (u32, u32) {
        self.port_channels()
    }

    fn select_channels(&mut self, channels: usize) {
        self.select_port_configuration(channels as u32);
    }

    fn param(&mut self, name: &str) -> u32 {
        let params: PluginParams = self.extension();
        let handle = self.instance.plugin_handle();
        (0..params.count(&handle))
            .find_map(|i| {
                let mut buffer = ParamInfoBuffer::new();
                let info = params.get_info(&handle, i, &mut buffer)?;
                (info.name == name.as_bytes()).then_some(info.id.get())
            })
            .unwrap_or_else(|| panic!("no parameter named {name}"))
    }

    fn param_value(&mut self, id: u32) -> f64 {
        let params: PluginParams = self.extension();
        params
            .get_value(&self.instance.plugin_handle(), ClapId::new(id))
            .expect("parameter value")
    }

    /// nice-plug exposes stepped parameters to CLAP as their step index.
    fn stepped(step: usize, _last: usize) -> f64 {
        step as f64
    }

    /// The saved state: nice-plug writes a little-endian u64 length, then JSON.
    fn save(&mut self) -> serde_json::Value {
        let state: PluginState = self.extension();
        let mut bytes = Vec::new();
        state
            .save(&self.instance.plugin_handle(), &mut bytes)
            .expect("saving state");
        let (length, json) = bytes.split_at(8);
        let length = u64::from_le_bytes(length.try_into().unwrap());
        assert_eq!(length as usize, json.len(), "state length prefix");
        serde_json::from_slice(json).expect("state is JSON")
    }

    fn restore(&mut self, json: &serde_json::Value) {
        let json = serde_json::to_vec(json).unwrap();
        let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(&json);
        let state: PluginState = self.extension();
        state
            .load(&self.instance.plugin_handle(), &mut &bytes[..])
            .expect("loading state");
    }

    /// The transport of `timeline` goes with every block as a CLAP transport event with the
    /// position on the seconds timeline; the render mode is set through the render extension.
    fn render_take(&mut self, take: Take) -> Rendered {
        self.set_render(if take.mode == Mode::Offline {
            RenderMode::Offline
        } else {
            RenderMode::Realtime
        });
        let config = PluginAudioConfiguration {
            sample_rate: f64::from(take.rate),
            min_frames_count: 1,
            max_frames_count: MAX_BLOCK as u32,
        };
        let processor = self
            .instance
            .activate(|_, _| (), config)
            .expect("activating");
        let latency = self.latency();
        let mut processor = processor.start_processing().expect("starting processing");

        let channels = take.input.len();
        let mut input_ports = AudioPorts::with_capacity(channels, 1);
        let mut output_ports = AudioPorts::with_capacity(channels, 1);
        let mut events = EventBuffer::new();
        let mut output_events = EventBuffer::new();
        let output = process_blocks(&take, |block| {
            let b = block.len;
            let transport = block.playhead.map(|p| transport_event(p, take.rate));
            events.clear();
            for (offset, change) in &block.changes {
                events.push(&ParamValueEvent::new(
                    *offset as u32,
                    ClapId::new(change.param),
                    Pckn::match_all(),
                    change.value,
                ));
            }
            let audio_in = input_ports.with_input_buffers([AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_input_only(
                    block
                        .input
                        .iter_mut()
                        .map(|c| InputChannel::variable(&mut c[..b])),
                ),
            }]);
            let mut audio_out = output_ports.with_output_buffers([AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_output_only(
                    block.output.iter_mut().map(|c| &mut c[..b]),
                ),
            }]);
            output_events.clear();
            processor
                .process(
                    &audio_in,
                    &mut audio_out,
                    &InputEvents::from_buffer(&events),
                    &mut OutputEvents::from_buffer(&mut output_events),
                    Some(block.pos as u64),
                    transport.as_ref(),
                )
                .expect("process");
        });
        self.instance.deactivate(processor.stop_processing());
        (output, latency)
    }
}

impl Clap {
    pub fn extension<E>(&mut self) -> E
    where
        E: clack_host::extensions::Extension<
                ExtensionSide = clack_host::extensions::PluginExtensionSide,
            >,
    {
        self.instance
            .plugin_handle()
            .get_extension::<E>()
            .unwrap_or_else(|| panic!("plugin lacks {}", std::any::type_name::<E>()))
    }

    /// Channel counts of the main input and output port.
    pub fn port_channels(&mut self) -> (u32, u32) {
        let ports: PluginAudioPorts = self.extension();
        let handle = self.instance.plugin_handle();
        let mut channels = [0, 0];
        for (i, is_input) in [true, false].into_iter().enumerate() {
            assert_eq!(ports.count(&handle, is_input), 1, "one port each way");
            let mut buffer = AudioPortInfoBuffer::new();
            channels[i] = ports
                .get(&handle, 0, is_input, &mut buffer)
                .expect("port info")
                .channel_count;
        }
        (channels[0], channels[1])
    }

    /// Selects the audio ports configuration with `channels` in and out.
    pub fn select_port_configuration(&mut self, channels: u32) {
        let configs: PluginAudioPortsConfig = self.extension();
        let handle = self.instance.plugin_handle();
        let mut chosen = None;
        for index in 0..configs.count(&handle) {
            let mut buffer = AudioPortsConfigBuffer::new();
            let config = configs.get(&handle, index, &mut buffer).unwrap();
            let main_in = config.main_input.as_ref().map(|p| p.channel_count);
            let main_out = config.main_output.as_ref().map(|p| p.channel_count);
            if main_in == Some(channels) && main_out == Some(channels) {
                chosen = Some(config.id);
            }
        }
        let id = chosen.unwrap_or_else(|| panic!("no {channels}-channel configuration"));
        configs
            .select(&handle, id)
            .expect("selecting the configuration");
        assert_eq!(self.port_channels(), (channels, channels));
    }

    fn set_render(&mut self, mode: RenderMode) {
        let render: PluginRender = self.extension();
        render
            .set(&self.instance.plugin_handle(), mode)
            .expect("render mode");
    }

    pub fn latency(&mut self) -> usize {
        let latency: PluginLatency = self.extension();
        latency.get(&self.instance.plugin_handle()) as usize
    }
}

/// The transport a CLAP host sends with a block: playing or not, the position on the seconds
/// timeline (CLAP has no sample position), 120 BPM in 4/4.
pub fn transport_event(playhead: Playhead, rate: u32) -> TransportEvent {
    let mut flags = TransportFlags::HAS_SECONDS_TIMELINE
        | TransportFlags::HAS_TEMPO
        | TransportFlags::HAS_TIME_SIGNATURE;
    flags.set(TransportFlags::IS_PLAYING, playhead.playing);
    TransportEvent {
        header: EventHeader::new_core(0, EventFlags::empty()),
        flags,
        song_pos_beats: BeatTime::default(),
        song_pos_seconds: SecondsTime::from_float(playhead.position as f64 / f64::from(rate)),
        tempo: 120.0,
        tempo_inc: 0.0,
        loop_start_beats: BeatTime::default(),
        loop_end_beats: BeatTime::default(),
        loop_start_seconds: SecondsTime::default(),
        loop_end_seconds: SecondsTime::default(),
        bar_start: BeatTime::default(),
        bar_number: 0,
        time_signature_numerator: 4,
        time_signature_denominator: 4,
    }
}

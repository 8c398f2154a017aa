//! VST3 host test: loads the VST3 bundle built by `cargo xtask test` (with nice-plug's
//! `assert_process_allocs`, so any allocation in `process()` aborts this test binary) through
//! the `vst3` crate's bindings, and checks the class, the buses, the reported latency against the
//! measured delay, parameter changes sent with the audio, the state round trip, offline
//! processing, repeated activation, mono and stereo.

#![cfg(feature = "host-tests")]

#[macro_use]
mod host_common;

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::time::{Duration, Instant};

use host_common::*;
use vst3::Steinberg::IBStream_::IStreamSeekMode_::{kIBSeekCur, kIBSeekEnd, kIBSeekSet};
use vst3::Steinberg::Vst::BusDirections_::{kInput, kOutput};
use vst3::Steinberg::Vst::MediaTypes_::kAudio;
use vst3::Steinberg::Vst::ProcessModes_::{kOffline, kRealtime};
use vst3::Steinberg::Vst::SpeakerArr::{kMono, kStereo};
use vst3::Steinberg::Vst::SymbolicSampleSizes_::kSample32;
use vst3::Steinberg::Vst::*;
use vst3::Steinberg::*;
use vst3::{Class, ComPtr, ComWrapper, Interface};

/// An in-memory `IBStream` for state saving and loading.
#[derive(Default)]
struct MemoryStream {
    data: RefCell<Vec<u8>>,
    position: Cell<usize>,
}

impl Class for MemoryStream {
    type Interfaces = (IBStream,);
}

impl IBStreamTrait for MemoryStream {
    unsafe fn read(&self, buffer: *mut c_void, bytes: int32, read: *mut int32) -> tresult {
        let data = self.data.borrow();
        let start = self.position.get().min(data.len());
        let n = (bytes.max(0) as usize).min(data.len() - start);
        unsafe {
            std::ptr::copy_nonoverlapping(data[start..].as_ptr(), buffer as *mut u8, n);
            if !read.is_null() {
                *read = n as int32;
            }
        }
        self.position.set(start + n);
        kResultOk
    }

    unsafe fn write(&self, buffer: *mut c_void, bytes: int32, written: *mut int32) -> tresult {
        let n = bytes.max(0) as usize;
        let bytes = unsafe { std::slice::from_raw_parts(buffer as *const u8, n) };
        let mut data = self.data.borrow_mut();
        let start = self.position.get();
        if data.len() < start + n {
            data.resize(start + n, 0);
        }
        data[start..start + n].copy_from_slice(bytes);
        self.position.set(start + n);
        if !written.is_null() {
            unsafe { *written = n as int32 };
        }
        kResultOk
    }

    unsafe fn seek(&self, pos: int64, mode: int32, result: *mut int64) -> tresult {
        let base = match mode as u32 {
            m if m == kIBSeekSet => 0,
            m if m == kIBSeekCur => self.position.get() as int64,
            m if m == kIBSeekEnd => self.data.borrow().len() as int64,
            _ => return kInvalidArgument,
        };
        let target = (base + pos).max(0);
        self.position.set(target as usize);
        if !result.is_null() {
            unsafe { *result = target };
        }
        kResultOk
    }

    unsafe fn tell(&self, pos: *mut int64) -> tresult {
        unsafe { *pos = self.position.get() as int64 };
        kResultOk
    }
}

/// One parameter's changes within a block.
struct Queue {
    id: ParamID,
    points: Vec<(int32, ParamValue)>,
}

impl Class for Queue {
    type Interfaces = (IParamValueQueue,);
}

impl IParamValueQueueTrait for Queue {
    unsafe fn getParameterId(&self) -> ParamID {
        self.id
    }

    unsafe fn getPointCount(&self) -> int32 {
        self.points.len() as int32
    }

    unsafe fn getPoint(&self, index: int32, offset: *mut int32, value: *mut ParamValue) -> tresult {
        let Some(&(at, v)) = self.points.get(index as usize) else {
            return kInvalidArgument;
        };
        unsafe {
            *offset = at;
            *value = v;
        }
        kResultOk
    }

    unsafe fn addPoint(&self, _: int32, _: ParamValue, _: *mut int32) -> tresult {
        kNotImplemented
    }
}

/// The parameter changes of one block.
struct Changes {
    queues: Vec<ComWrapper<Queue>>,
}

impl Class for Changes {
    type Interfaces = (IParameterChanges,);
}

impl IParameterChangesTrait for Changes {
    unsafe fn getParameterCount(&self) -> int32 {
        self.queues.len() as int32
    }

    unsafe fn getParameterData(&self, index: int32) -> *mut IParamValueQueue {
        self.queues
            .get(index as usize)
            .and_then(|q| q.as_com_ref::<IParamValueQueue>())
            .map_or(std::ptr::null_mut(), |q| q.as_ptr())
    }

    unsafe fn addParameterData(&self, _: *const ParamID, _: *mut int32) -> *mut IParamValueQueue {
        std::ptr::null_mut()
    }
}

/// A normalized parameter value change at a sample position of the processed signal.
#[derive(Clone, Copy)]
struct Change {
    at: usize,
    param: ParamID,
    value: f64,
}

/// The loaded module and its factory.
struct Module {
    factory: ComPtr<IPluginFactory>,
    _library: libloading::Library,
}

impl Module {
    fn load() -> Self {
        let path = vst3_library_path();
        // SAFETY: the bundle is our own plugin, built for this test.
        unsafe {
            let library = libloading::Library::new(&path)
                .unwrap_or_else(|e| panic!("loading {}: {e}", path.display()));
            if let Ok(entry) =
                library.get::<unsafe extern "C" fn(*mut c_void) -> bool>(b"ModuleEntry")
            {
                assert!(entry(std::ptr::null_mut()), "ModuleEntry failed");
            }
            let get_factory = library
                .get::<unsafe extern "system" fn() -> *mut c_void>(b"GetPluginFactory")
                .expect("GetPluginFactory");
            let factory =
                ComPtr::from_raw(get_factory() as *mut IPluginFactory).expect("a plugin factory");
            Self {
                factory,
                _library: library,
            }
        }
    }

    /// The audio effect classes: (class id, name, category).
    fn classes(&self) -> Vec<(TUID, String, String)> {
        let text = |chars: &[i8]| -> String {
            let bytes: Vec<u8> = chars
                .iter()
                .take_while(|&&c| c != 0)
                .map(|&c| c as u8)
                .collect();
            String::from_utf8(bytes).unwrap()
        };
        unsafe {
            (0..self.factory.countClasses())
                .map(|i| {
                    let mut info: PClassInfo = std::mem::zeroed();
                    assert_eq!(self.factory.getClassInfo(i, &mut info), kResultOk);
                    (info.cid, text(&info.name), text(&info.category))
                })
                .collect()
        }
    }
}

struct Plugin {
    component: ComPtr<IComponent>,
    processor: ComPtr<IAudioProcessor>,
    controller: ComPtr<IEditController>,
    channels: usize,
    /// Dropped after the interfaces.
    _module: Module,
}

impl Plugin {
    fn load() -> Self {
        let module = Module::load();
        let (cid, _, _) = module
            .classes()
            .into_iter()
            .find(|(_, _, category)| category == "Audio Module Class")
            .expect("an audio module class");
        unsafe {
            let mut object: *mut c_void = std::ptr::null_mut();
            let result = module.factory.createInstance(
                cid.as_ptr(),
                IComponent::IID.as_ptr() as FIDString,
                &mut object,
            );
            assert_eq!(result, kResultOk, "createInstance");
            let component = ComPtr::from_raw(object as *mut IComponent).expect("a component");
            assert_eq!(component.initialize(std::ptr::null_mut()), kResultOk);
            let processor = component
                .cast::<IAudioProcessor>()
                .expect("IAudioProcessor");
            let controller = component
                .cast::<IEditController>()
                .expect("the component is its own edit controller");
            Self {
                component,
                processor,
                controller,
                channels: 2,
                _module: module,
            }
        }
    }

    /// Channel counts of the input and output bus.
    fn bus_channels(&self) -> (i32, i32) {
        unsafe {
            assert_eq!(self.component.getBusCount(kAudio as i32, kInput as i32), 1);
            assert_eq!(self.component.getBusCount(kAudio as i32, kOutput as i32), 1);
            let mut info: BusInfo = std::mem::zeroed();
            let mut channels = [0, 0];
            for (i, dir) in [kInput, kOutput].into_iter().enumerate() {
                let r = self
                    .component
                    .getBusInfo(kAudio as i32, dir as i32, 0, &mut info);
                assert_eq!(r, kResultOk);
                channels[i] = info.channelCount;
            }
            (channels[0], channels[1])
        }
    }

    fn set_channels(&mut self, channels: usize) {
        let mut arrangement = if channels == 1 { kMono } else { kStereo };
        let mut out = arrangement;
        let result = unsafe {
            self.processor
                .setBusArrangements(&mut arrangement, 1, &mut out, 1)
        };
        assert_eq!(result, kResultOk, "{channels}-channel arrangement refused");
        self.channels = channels;
        assert_eq!(self.bus_channels(), (channels as i32, channels as i32));
    }

    fn param(&self, name: &str) -> ParamID {
        unsafe {
            (0..self.controller.getParameterCount())
                .find_map(|i| {
                    let mut info: ParameterInfo = std::mem::zeroed();
                    assert_eq!(self.controller.getParameterInfo(i, &mut info), kResultOk);
                    let end = info.title.iter().position(|&c| c == 0).unwrap_or(128);
                    (String::from_utf16_lossy(&info.title[..end]) == name).then_some(info.id)
                })
                .unwrap_or_else(|| panic!("no parameter named {name}"))
        }
    }

    fn param_value(&self, id: ParamID) -> f64 {
        unsafe { self.controller.getParamNormalized(id) }
    }

    fn save(&self) -> serde_json::Value {
        let stream = ComWrapper::new(MemoryStream::default());
        let pointer = stream.to_com_ptr::<IBStream>().unwrap();
        assert_eq!(
            unsafe { self.component.getState(pointer.as_ptr()) },
            kResultOk
        );
        serde_json::from_slice(&stream.data.borrow()).expect("state is JSON")
    }

    fn restore(&self, state: &serde_json::Value) {
        let stream = ComWrapper::new(MemoryStream::default());
        *stream.data.borrow_mut() = serde_json::to_vec(state).unwrap();
        let pointer = stream.to_com_ptr::<IBStream>().unwrap();
        assert_eq!(
            unsafe { self.component.setState(pointer.as_ptr()) },
            kResultOk
        );
    }

    /// Sets up and activates at `rate`, processes `input` (one vector per channel) block by
    /// block with the parameter changes, deactivates; returns the output and the latency
    /// reported while active.
    fn render(
        &self,
        rate: u32,
        input: &[Vec<f32>],
        changes: &[Change],
        offline: bool,
    ) -> (Vec<Vec<f32>>, usize) {
        let timeline = [Stretch::untimed(input[0].len())];
        self.render_timeline(rate, input, changes, offline, &timeline)
    }

    /// As [`Self::render`], with the transport of `timeline` given with every block (a
    /// `ProcessContext` with the project time in samples).
    fn render_timeline(
        &self,
        rate: u32,
        input: &[Vec<f32>],
        changes: &[Change],
        offline: bool,
        timeline: &[Stretch],
    ) -> (Vec<Vec<f32>>, usize) {
        assert_eq!(input.len(), self.channels);
        let mode = if offline { kOffline } else { kRealtime } as int32;
        let mut setup = ProcessSetup {
            processMode: mode,
            symbolicSampleSize: kSample32 as int32,
            maxSamplesPerBlock: MAX_BLOCK as int32,
            sampleRate: f64::from(rate),
        };
        unsafe {
            assert_eq!(self.processor.setupProcessing(&mut setup), kResultOk);
            for dir in [kInput, kOutput] {
                self.component.activateBus(kAudio as i32, dir as i32, 0, 1);
            }
            assert_eq!(self.component.setActive(1), kResultOk);
            self.processor.setProcessing(1);
        }
        let latency = unsafe { self.processor.getLatencySamples() } as usize;

        let channels = input.len();
        let len = input[0].len();
        let mut output = vec![vec![0f32; len]; channels];
        let mut in_block = vec![vec![0f32; MAX_BLOCK]; channels];
        let mut out_block = vec![vec![0f32; MAX_BLOCK]; channels];
        let start = Instant::now();
        let mut pos = 0;
        assert_eq!(timeline.iter().map(|s| s.len).sum::<usize>(), len);
        for (b, playhead) in timeline_blocks(timeline) {
            let mut context = playhead.map(|p| process_context(p, rate));
            for c in 0..channels {
                in_block[c][..b].copy_from_slice(&input[c][pos..pos + b]);
            }
            let queues: Vec<ComWrapper<Queue>> = changes
                .iter()
                .filter(|c| (pos..pos + b).contains(&c.at))
                .map(|c| {
                    ComWrapper::new(Queue {
                        id: c.param,
                        points: vec![((c.at - pos) as int32, c.value)],
                    })
                })
                .collect();
            let block_changes = ComWrapper::new(Changes { queues });
            let changes_ptr = block_changes.to_com_ptr::<IParameterChanges>().unwrap();
            let mut in_ptrs: Vec<*mut f32> = in_block.iter_mut().map(|c| c.as_mut_ptr()).collect();
            let mut out_ptrs: Vec<*mut f32> =
                out_block.iter_mut().map(|c| c.as_mut_ptr()).collect();
            let mut in_bus = AudioBusBuffers {
                numChannels: channels as int32,
                silenceFlags: 0,
                __field0: AudioBusBuffers__type0 {
                    channelBuffers32: in_ptrs.as_mut_ptr(),
                },
            };
            let mut out_bus = AudioBusBuffers {
                numChannels: channels as int32,
                silenceFlags: 0,
                __field0: AudioBusBuffers__type0 {
                    channelBuffers32: out_ptrs.as_mut_ptr(),
                },
            };
            let mut data = ProcessData {
                processMode: mode,
                symbolicSampleSize: kSample32 as int32,
                numSamples: b as int32,
                numInputs: 1,
                numOutputs: 1,
                inputs: &mut in_bus,
                outputs: &mut out_bus,
                inputParameterChanges: changes_ptr.as_ptr(),
                outputParameterChanges: std::ptr::null_mut(),
                inputEvents: std::ptr::null_mut(),
                outputEvents: std::ptr::null_mut(),
                processContext: context
                    .as_mut()
                    .map_or(std::ptr::null_mut(), |c| c as *mut ProcessContext),
            };
            assert_eq!(unsafe { self.processor.process(&mut data) }, kResultOk);
            for c in 0..channels {
                output[c][pos..pos + b].copy_from_slice(&out_block[c][..b]);
            }
            pos += b;
            if !offline {
                let due = Duration::from_secs_f64(pos as f64 / f64::from(rate));
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
        unsafe {
            self.processor.setProcessing(0);
            assert_eq!(self.component.setActive(0), kResultOk);
        }
        (output, latency)
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        unsafe { self.component.terminate() };
    }
}

/// The transport a VST3 host gives with a block: playing or not, and the project time in
/// samples (always valid in VST3), 120 BPM.
fn process_context(playhead: Playhead, rate: u32) -> ProcessContext {
    use vst3::Steinberg::Vst::ProcessContext_::StatesAndFlags_::{kPlaying, kTempoValid};
    // SAFETY: ProcessContext is plain data; all zeros is a valid (empty) value.
    let mut context: ProcessContext = unsafe { std::mem::zeroed() };
    context.state = kTempoValid | if playhead.playing { kPlaying } else { 0 };
    context.sampleRate = f64::from(rate);
    context.projectTimeSamples = playhead.position;
    context.tempo = 120.0;
    context
}

/// Output Gain spans -24..24 dB; VST3 parameters are normalized to 0..1.
fn gain_value(db: f64) -> f64 {
    (db + 24.0) / 48.0
}

fn assert_close(value: f64, expected: f64) {
    assert!((value - expected).abs() < 1e-6, "{value} != {expected}");
}

fn noise_channels(channels: usize, len: usize) -> Vec<Vec<f32>> {
    (0..channels).map(|c| noise(len, 10 + c as u32)).collect()
}

#[test]
fn class_and_buses() {
    let _serial = serial();
    let module = Module::load();
    let classes = module.classes();
    assert!(
        classes
            .iter()
            .any(|(_, name, category)| name == "Vocos Codec" && category == "Audio Module Class"),
        "{:?}",
        classes.iter().map(|(_, n, c)| (n, c)).collect::<Vec<_>>()
    );
    let mut plugin = Plugin::load();
    assert_eq!(plugin.bus_channels(), (2, 2), "stereo by default");
    plugin.set_channels(1);
    plugin.set_channels(2);
}

/// Reported latency = measured delay: at 24 kHz the whole output is the input delayed, at
/// 44.1 and 48 kHz the impulse peaks at the latency (the wet path is resampled) and the dry
/// path (Mix 0) is delayed exactly.
#[test]
fn measured_delay_equals_reported_latency() {
    let _serial = serial();
    for channels in [2usize, 1] {
        for rate in RATES {
            let mut plugin = Plugin::load();
            plugin.set_channels(channels);
            // Longer than the latency (about 0.4 s) plus a third of a second.
            let len = rate as usize * 3 / 4;
            let at: Vec<usize> = (0..channels).map(|c| 900 + 555 * c).collect();
            let input: Vec<Vec<f32>> = at.iter().map(|&a| impulses(len, &[a])).collect();
            let (output, latency) = plugin.render(rate, &input, &[], false);
            assert!(latency > 0);
            for c in 0..channels {
                let delay = impulse_delays(&output[c], &at[c..=c], latency)[0];
                println!(
                    "VST3 {rate} Hz, {channels} ch, channel {c}: measured delay {delay} samples, \
                     reported latency {latency}"
                );
                assert!(
                    delay.abs_diff(latency) <= 1,
                    "{rate} Hz: delay {delay} vs {latency}"
                );
            }
            let noise_in = noise_channels(channels, len);
            if rate == 24_000 {
                let (output, _) = plugin.render(rate, &noise_in, &[], false);
                for c in 0..channels {
                    let what = format!("VST3 24 kHz wet, {channels} ch, channel {c}");
                    assert_delayed(&output[c], &noise_in[c], latency, 1.0, &what);
                }
            }
            let dry = [Change {
                at: 0,
                param: plugin.param("Mix"),
                value: 0.0,
            }];
            let (output, _) = plugin.render(rate, &noise_in, &dry, true);
            // Mix is smoothed over 20 ms.
            let settled = latency + rate as usize / 25;
            for c in 0..channels {
                let what = format!("VST3 {rate} Hz dry, {channels} ch, channel {c}");
                assert_delayed(
                    &output[c][settled..],
                    &noise_in[c][settled - latency..len - latency],
                    0,
                    1.0,
                    &what,
                );
            }
        }
    }
}

#[test]
fn offline_processing_equals_real_time_processing() {
    let _serial = serial();
    for rate in [24_000, 48_000] {
        let plugin = Plugin::load();
        let input = noise_channels(2, rate as usize);
        let (real_time, latency) = plugin.render(rate, &input, &[], false);
        let (offline, offline_latency) = plugin.render(rate, &input, &[], true);
        assert_eq!(latency, offline_latency);
        assert_same(
            &real_time,
            &offline,
            &format!("{rate} Hz offline vs real time"),
        );
        assert!(offline[1][latency + 100..].iter().any(|&s| s != 0.0));
    }
}

#[test]
fn parameter_changes_with_the_audio_change_gain_mix_and_bandwidth() {
    let _serial = serial();
    let rate = 24_000;
    let plugin = Plugin::load();
    let (gain, mix, bandwidth) = (
        plugin.param("Output Gain"),
        plugin.param("Mix"),
        plugin.param("Bandwidth"),
    );
    // Stepped parameters are normalized by their step count: 6 kbps is step 2 of 0..=3.
    assert_close(plugin.param_value(bandwidth), 2.0 / 3.0);
    let input = noise_channels(2, rate as usize);
    let changes = [
        Change {
            at: 15_000,
            param: gain,
            value: gain_value(-6.0),
        },
        Change {
            at: 15_000,
            param: mix,
            value: 0.5,
        },
        Change {
            at: 15_000,
            param: bandwidth,
            value: 1.0,
        },
    ];
    let (output, latency) = plugin.render(rate, &input, &changes, true);
    let g = 10f32.powf(-6.0 / 20.0);
    assert_delayed(
        &output[0][..15_000],
        &input[0][..15_000],
        latency,
        1.0,
        "before",
    );
    let settled = 15_000 + rate as usize / 50 + 1;
    for n in settled..output[0].len() {
        let expected = input[0][n - latency] * g;
        assert!((output[0][n] - expected).abs() < 1e-5, "sample {n}");
    }
    assert_close(plugin.param_value(gain), gain_value(-6.0));
    assert_close(plugin.param_value(mix), 0.5);
    assert_close(plugin.param_value(bandwidth), 1.0);
}

#[test]
fn state_round_trip_keeps_parameters_and_model_location() {
    let _serial = serial();
    let plugin = Plugin::load();
    let gain = plugin.param("Output Gain");
    let bandwidth = plugin.param("Bandwidth");
    let changes = [
        Change {
            at: 0,
            param: gain,
            value: gain_value(3.5),
        },
        Change {
            at: 0,
            param: bandwidth,
            value: 0.0,
        },
    ];
    plugin.render(24_000, &noise_channels(2, 2_000), &changes, true);
    let mut state = plugin.save();
    assert_eq!(state["params"]["gain"]["f32"], 3.5);
    let location = "/models/vocos äöü";
    state["fields"]["model-path"] =
        serde_json::Value::String(serde_json::to_string(location).unwrap());

    let restored = Plugin::load();
    restored.restore(&state);
    assert_close(restored.param_value(gain), gain_value(3.5));
    assert_close(restored.param_value(bandwidth), 0.0);
    let resaved = restored.save();
    assert_eq!(
        resaved["fields"]["model-path"],
        state["fields"]["model-path"]
    );
    assert_eq!(resaved["params"], state["params"]);
}

#[test]
fn three_activation_cycles_give_the_same_latency_and_output() {
    let _serial = serial();
    let plugin = Plugin::load();
    let input = noise_channels(2, 48_000);
    let (first, latency) = plugin.render(48_000, &input, &[], true);
    for cycle in 1..3 {
        let (output, again) = plugin.render(48_000, &input, &[], true);
        assert_eq!(again, latency, "cycle {cycle}");
        assert_same(&output, &first, &format!("cycle {cycle}"));
    }
}

/// With the tiny codec chosen as the model folder (as a restored project would have it), the
/// VST3 plugin at 24 kHz outputs the reference `Vocos.forward(audio, bandwidth_id=2)` delayed by
/// the reported latency, within 1e-4 of the reference peak.
#[test]
fn codec_output_equals_reference_delayed_by_the_reported_latency() {
    let _serial = serial();
    let folder = tiny_model_folder();
    let (audio, reference) = (golden("audio"), golden("audio_out_2"));

    let plugin = Plugin::load();
    let mut state = plugin.save();
    state["fields"]["model-path"] =
        serde_json::Value::String(serde_json::to_string(&folder.display().to_string()).unwrap());
    plugin.restore(&state);
    let mut input = audio.clone();
    input.resize(audio.len() + 15_000, 0.0);
    let (output, latency) = plugin.render(24_000, &[input.clone(), input], &[], true);
    let compared = audio.len() - 9_440;
    let peak = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = (0..compared)
        .map(|n| (output[0][latency + n] - reference[n]).abs())
        .fold(0f32, f32::max);
    println!(
        "VST3 codec at 24 kHz: max |error| / peak = {:.3e}",
        worst / peak
    );
    assert!(worst <= 1e-4 * peak, "error {worst} vs peak {peak}");
}

/// Bandwidth automation sent as VST3 parameter changes lands on the model frame its sample maps
/// to: the output equals the offline reference with those per-frame bandwidth ids, delayed.
#[test]
fn bandwidth_automation_lands_on_its_frame() {
    let _serial = serial();
    let audio = golden("audio");
    let plugin = Plugin::load();
    let mut state = plugin.save();
    state["fields"]["model-path"] = serde_json::Value::String(
        serde_json::to_string(&tiny_model_folder().display().to_string()).unwrap(),
    );
    plugin.restore(&state);
    let bandwidth = plugin.param("Bandwidth");
    // VST3 normalizes stepped parameters by their step count (0..=3).
    let changes = AUTOMATION.map(|(at, id)| Change {
        at,
        param: bandwidth,
        value: id as f64 / 3.0,
    });
    let mut input = audio.clone();
    input.resize(audio.len() + 15_000, 0.0);
    let (output, latency) = plugin.render(24_000, &[input.clone(), input], &changes, true);
    let reference = automation_reference(&audio);
    let error = relative_error(&output[1], latency, &reference, audio.len() - 9_440);
    println!("VST3 bandwidth automation at 24 kHz: max |error| / peak = {error:.3e}");
    assert!(error <= 1e-4);
}

/// A worker stalled on purpose while the host plays in real time: silence for the late blocks,
/// never a blocked host, then the exact delayed input at the same latency.
#[test]
fn a_stalled_worker_plays_silence_then_recovers_with_the_same_latency() {
    let _serial = serial();
    let rate = 24_000;
    let input = noise_channels(2, 3 * rate as usize);
    let _stall = StallWorker::set();
    let plugin = Plugin::load();
    let (output, latency) = plugin.render(rate, &input, &[], false);
    assert_one_silent_gap_then_recovery(&output, &input, latency, rate, "VST3");
}

/// Renders with a fresh plugin running the tiny models, for the shared transport scenarios.
fn render_tiny(
    rate: u32,
    input: &[Vec<f32>],
    timeline: &[Stretch],
    real_time: bool,
) -> (Vec<Vec<f32>>, usize) {
    let plugin = Plugin::load();
    let mut state = plugin.save();
    state["fields"]["model-path"] = serde_json::Value::String(
        serde_json::to_string(&tiny_model_folder().display().to_string()).unwrap(),
    );
    plugin.restore(&state);
    plugin.render_timeline(rate, input, &[], !real_time, timeline)
}

shared_scenarios!(render_tiny, "VST3");

//! VST3 host test: loads the VST3 bundle built by `cargo xtask test` (with nice-plug's
//! `assert_process_allocs`, so any allocation in `process()` aborts this test binary) through
//! the `vst3` crate's bindings, checks the class, and runs the scenarios every host runs
//! (`host_scenarios!`): the buses, the reported latency against the measured delay, parameter
//! changes sent with the audio, the state round trip, offline processing, repeated activation,
//! mono and stereo, the models' output against the references.

#![cfg(feature = "host-tests")]

#[macro_use]
mod host_common;

use std::cell::{Cell, RefCell};
use std::ffi::c_void;

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
    /// Channel counts of the input and output bus.
    fn bus_channels(&self) -> (u32, u32) {
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
            (channels[0] as u32, channels[1] as u32)
        }
    }
}

impl Host for Plugin {
    const NAME: &'static str = "VST3";

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

    fn channels(&mut self) -> (u32, u32) {
        self.bus_channels()
    }

    fn select_channels(&mut self, channels: usize) {
        let mut arrangement = if channels == 1 { kMono } else { kStereo };
        let mut out = arrangement;
        let result = unsafe {
            self.processor
                .setBusArrangements(&mut arrangement, 1, &mut out, 1)
        };
        assert_eq!(result, kResultOk, "{channels}-channel arrangement refused");
        self.channels = channels;
        assert_eq!(self.bus_channels(), (channels as u32, channels as u32));
    }

    fn param(&mut self, name: &str) -> u32 {
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

    fn param_value(&mut self, id: u32) -> f64 {
        unsafe { self.controller.getParamNormalized(id) }
    }

    /// VST3 normalizes stepped parameters by their step count.
    fn stepped(step: usize, last: usize) -> f64 {
        step as f64 / last as f64
    }

    fn save(&mut self) -> serde_json::Value {
        let stream = ComWrapper::new(MemoryStream::default());
        let pointer = stream.to_com_ptr::<IBStream>().unwrap();
        assert_eq!(
            unsafe { self.component.getState(pointer.as_ptr()) },
            kResultOk
        );
        serde_json::from_slice(&stream.data.borrow()).expect("state is JSON")
    }

    fn restore(&mut self, state: &serde_json::Value) {
        let stream = ComWrapper::new(MemoryStream::default());
        *stream.data.borrow_mut() = serde_json::to_vec(state).unwrap();
        let pointer = stream.to_com_ptr::<IBStream>().unwrap();
        assert_eq!(
            unsafe { self.component.setState(pointer.as_ptr()) },
            kResultOk
        );
    }

    /// The transport of `timeline` goes with every block as a `ProcessContext` with the project
    /// time in samples; the process mode is set in the processing setup.
    fn render_take(&mut self, take: Take) -> Rendered {
        assert_eq!(take.input.len(), self.channels);
        let process_mode = if take.mode == Mode::Offline {
            kOffline
        } else {
            kRealtime
        } as int32;
        let mut setup = ProcessSetup {
            processMode: process_mode,
            symbolicSampleSize: kSample32 as int32,
            maxSamplesPerBlock: MAX_BLOCK as int32,
            sampleRate: f64::from(take.rate),
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

        let channels = take.input.len();
        let output = process_blocks(&take, |block| {
            let mut context = block.playhead.map(|p| process_context(p, take.rate));
            let queues: Vec<ComWrapper<Queue>> = block
                .changes
                .iter()
                .map(|&(offset, c)| {
                    ComWrapper::new(Queue {
                        id: c.param,
                        points: vec![(offset as int32, c.value)],
                    })
                })
                .collect();
            let block_changes = ComWrapper::new(Changes { queues });
            let changes_ptr = block_changes.to_com_ptr::<IParameterChanges>().unwrap();
            let pointers = |buffers: &mut [Vec<f32>]| -> Vec<*mut f32> {
                buffers.iter_mut().map(|c| c.as_mut_ptr()).collect()
            };
            let (mut in_ptrs, mut out_ptrs) = (pointers(block.input), pointers(block.output));
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
                processMode: process_mode,
                symbolicSampleSize: kSample32 as int32,
                numSamples: block.len as int32,
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
        });
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

#[test]
fn class() {
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
}

host_scenarios!(Plugin);

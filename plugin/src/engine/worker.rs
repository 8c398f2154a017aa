//! The worker thread: takes host-rate input from the input ring, resamples it to 24 kHz, runs
//! the stream processor frame by frame, resamples back and fills the output ring. When idle it
//! parks for a short while and polls again; the audio thread only wakes it when rendering
//! offline. It flushes subnormal floats to zero, resets a processor whose output is not
//! finite, and plays a step that fails (a model or resampler error) as silence, counting it and
//! keeping its reason for the editor (see [`super::Failures`]).

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use crossbeam_channel::Receiver;
use ringbuf::traits::{Consumer, Observer, Producer};
use ringbuf::{HeapCons, HeapProd};
use vocos_dsp::resample::StreamResampler;

use nice_plug::prelude::{nice_error, nice_warn};

use super::denormals;
use super::processor::{MODEL_RATE, ProcessError, StreamProcessor};
use super::{Control, EngineSetup, Shared};

/// How long the worker parks when it has nothing to do. Input that arrives meanwhile waits at
/// most this long, well inside the time the buffering gives the worker for a step (one callback
/// period plus one step: 4 model frames, over 40 ms; see `plan`). Polling every 250 us instead
/// cost about 4 % of a core in wake-ups (`cargo xtask bench`: 23 % -> 19 % for a stereo 48 kHz
/// instance).
const IDLE_PARK: Duration = Duration::from_millis(2);
/// Fault injection for host tests, in debug builds only: `VOCOS_TEST_STALL_WORKER=<frames>:<ms>`
/// makes every worker of the process sleep `ms` milliseconds once, before it runs processor
/// frame `frames` of its first stream, as a worker too slow for real time would be late.
const STALL_ENV: &str = "VOCOS_TEST_STALL_WORKER";

/// The stall [`STALL_ENV`] asks for: before which frame, and how long.
fn injected_stall() -> Option<(u64, Duration)> {
    if !cfg!(debug_assertions) {
        return None;
    }
    let value = std::env::var(STALL_ENV).ok()?;
    let (frames, millis) = value.split_once(':')?;
    Some((
        frames.parse().ok()?,
        Duration::from_millis(millis.parse().ok()?),
    ))
}

/// Pending bandwidth changes kept at once; beyond that the oldest is applied early.
const MAX_PENDING_CHANGES: usize = 64;

/// Interleaved samples with a preallocated capacity, consumed from the front.
struct Fifo {
    data: Vec<f32>,
    channels: usize,
}

impl Fifo {
    fn new(frames: usize, channels: usize) -> Self {
        Self {
            data: Vec::with_capacity(frames * channels),
            channels,
        }
    }

    fn frames(&self) -> usize {
        self.data.len() / self.channels
    }

    fn consume_frames(&mut self, n: usize) {
        self.data.drain(..(n * self.channels).min(self.data.len()));
    }
}

/// Sizes of the three stages, in frames.
#[derive(Clone, Copy)]
struct Stages {
    /// Host frames per resampler input chunk (the processor frame at 24 kHz).
    host_chunk: usize,
    /// 24 kHz frames per down-resampler output chunk.
    down_out: usize,
    /// Processor frame (the unit of bandwidth timing).
    frame: usize,
    /// Frames the processor takes per step.
    per_step: usize,
    /// 24 kHz frames per up-resampler input chunk.
    up_in: usize,
    /// Host frames per up-resampler output chunk.
    up_out: usize,
    /// 24 kHz delay of the down-resampler.
    down_delay: usize,
    /// `down_delay % frame`: 24 kHz samples dropped before the processor at each stream start,
    /// with as many zeros emitted after it, so the model's frame grid starts at the stream's
    /// first input sample whatever the host rate (as at 24 kHz and offline). The latency is
    /// unchanged. A frame-based model is not exactly shift-invariant: without this a 48 kHz
    /// host would hear the model on another frame grid than a 24 kHz one.
    grid_shift: usize,
}

/// The worker's ends of the rings and channels from the audio side.
pub(super) struct Links {
    pub input: HeapCons<f32>,
    pub output: HeapProd<f32>,
    pub controls: Receiver<Control>,
    pub processors: Receiver<Box<dyn StreamProcessor>>,
    pub shared: Arc<Shared>,
}

pub(super) struct Worker {
    processor: Box<dyn StreamProcessor>,
    channels: usize,
    host_rate: u32,
    stages: Stages,
    input: HeapCons<f32>,
    output: HeapProd<f32>,
    controls: Receiver<Control>,
    /// Replacement processors (a model finished loading); swapped in between frames.
    processors: Receiver<Box<dyn StreamProcessor>>,
    shared: Arc<Shared>,
    /// Host -> 24 kHz and back; `None` at 24 kHz.
    resamplers: Option<(StreamResampler, StreamResampler)>,
    /// The bandwidth index last applied, given to replacement processors.
    bandwidth: Option<usize>,
    /// Host input taken from the ring, not yet a whole resampler chunk.
    staged: Fifo,
    /// Absolute host frame position of the first staged frame.
    staged_at: u64,
    /// Input before this absolute host frame belongs to an older stream.
    stream_start: u64,
    /// 24 kHz audio, not yet a whole processor frame.
    at_model_rate: Fifo,
    /// Processor output, not yet a whole up-resampler chunk.
    processed: Fifo,
    /// 24 kHz input frames still to drop at this stream's start (see `Stages::grid_shift`).
    skip: usize,
    /// Processor frames run in the current stream.
    frames_done: u64,
    /// A stall still to inject (see [`STALL_ENV`]).
    stall: Option<(u64, Duration)>,
    /// Whether broken input was logged already.
    reported_broken_input: bool,
    /// Whether a failed step was logged in the current stream with the current processor.
    logged_failure: bool,
    /// The reason last published to `Failures::reason`, and a buffer to write the next one
    /// into: the reason is compared in place and published only when it changed.
    failure_reason: String,
    reason_scratch: String,
    /// Bandwidth changes (index, absolute host frame) waiting for their frame, oldest first.
    pending: Vec<(usize, u64)>,
    /// Interleaved samples written to the output ring since start.
    written: u64,
    down_buf: Vec<f32>,
    up_buf: Vec<f32>,
    frame_in: Vec<Vec<f32>>,
    frame_out: Vec<Vec<f32>>,
}

impl Worker {
    pub fn new(
        processor: Box<dyn StreamProcessor>,
        setup: EngineSetup,
        links: Links,
        resamplers: Option<(StreamResampler, StreamResampler)>,
    ) -> Self {
        let Links {
            input,
            output,
            controls,
            processors,
            shared,
        } = links;
        let ch = setup.channels;
        let timing = processor.timing();
        let frame = timing.frame;
        let per_step = timing.frames_per_step.max(1);
        let step = frame * per_step;
        let stages = match &resamplers {
            None => Stages {
                host_chunk: step,
                down_out: step,
                frame,
                per_step,
                up_in: step,
                up_out: step,
                down_delay: 0,
                grid_shift: 0,
            },
            Some((down, up)) => Stages {
                host_chunk: down.chunk_in(),
                down_out: down.chunk_out(),
                frame,
                per_step,
                up_in: up.chunk_in(),
                up_out: up.chunk_out(),
                down_delay: down.delay(),
                grid_shift: down.delay() % frame,
            },
        };
        let mut worker = Self {
            processor,
            channels: ch,
            host_rate: setup.host_rate,
            stages,
            input,
            output,
            controls,
            processors,
            shared,
            resamplers,
            bandwidth: None,
            staged: Fifo::new(2 * (stages.host_chunk + setup.max_block.max(1)), ch),
            staged_at: 0,
            stream_start: 0,
            at_model_rate: Fifo::new(stages.down_out + step, ch),
            processed: Fifo::new(stages.up_in + step + frame, ch),
            skip: 0,
            frames_done: 0,
            stall: injected_stall(),
            reported_broken_input: false,
            logged_failure: false,
            failure_reason: String::new(),
            reason_scratch: String::new(),
            pending: Vec::with_capacity(MAX_PENDING_CHANGES),
            written: 0,
            down_buf: vec![0.0; stages.down_out * ch],
            up_buf: vec![0.0; stages.up_out * ch],
            frame_in: vec![vec![0.0; step]; ch],
            frame_out: vec![vec![0.0; step]; ch],
        };
        worker.start_stream();
        worker
    }

    /// Empties the 24 kHz buffers for a new stream and aligns its frame grid (see
    /// `Stages::grid_shift`).
    fn start_stream(&mut self) {
        self.at_model_rate.data.clear();
        self.processed.data.clear();
        let shift = self.stages.grid_shift;
        self.processed.data.resize(shift * self.channels, 0.0);
        self.skip = shift;
        self.frames_done = 0;
    }

    pub fn run(mut self) {
        denormals::flush_to_zero_on_this_thread();
        while !self.shared.stop.load(Ordering::Acquire) {
            self.report_broken_input_once();
            // Input first, then the controls: a reset the audio thread sent before pushing
            // some input is then always seen together with that input.
            let took = self.take_input();
            while let Ok(control) = self.controls.try_recv() {
                self.apply(control);
            }
            if let Ok(processor) = self.processors.try_recv() {
                self.replace_processor(processor);
            }
            self.discard_old_input();
            let mut worked = false;
            while self.staged.frames() >= self.stages.host_chunk && self.output_has_room() {
                self.process_chunk();
                worked = true;
            }
            if !took && !worked {
                let taken = self.staged_at + self.staged.frames() as u64;
                self.shared.idle_at.store(taken, Ordering::Release);
                std::thread::park_timeout(IDLE_PARK);
            }
        }
    }

    /// Logs, once per engine, that the host sent samples that are not audio.
    fn report_broken_input_once(&mut self) {
        if !self.reported_broken_input
            && self.shared.broken_input_blocks.load(Ordering::Relaxed) > 0
        {
            self.reported_broken_input = true;
            nice_warn!(
                "the input held NaN, infinite or out-of-range samples: played as silence, and \
                 the model restarted after them"
            );
        }
    }

    /// Moves whole frames from the input ring into `staged`, as many as fit.
    fn take_input(&mut self) -> bool {
        let ch = self.channels;
        let room = (self.staged.data.capacity() - self.staged.data.len()) / ch;
        let frames = (self.input.occupied_len() / ch).min(room);
        if frames == 0 {
            return false;
        }
        let start = self.staged.data.len();
        self.staged.data.resize(start + frames * ch, 0.0);
        self.input.pop_slice(&mut self.staged.data[start..]);
        true
    }

    /// Swaps in `processor` if it has the same timing; it starts from its stream start with the
    /// current bandwidth. The old one is dropped here, off the audio thread.
    fn replace_processor(&mut self, mut processor: Box<dyn StreamProcessor>) {
        if processor.timing() != self.processor.timing() {
            return;
        }
        if let Some(index) = self.bandwidth {
            processor.set_bandwidth(index);
        }
        self.processor = processor;
        self.logged_failure = false;
    }

    /// Drops staged input that precedes the current stream.
    fn discard_old_input(&mut self) {
        let old = self.stream_start.saturating_sub(self.staged_at);
        let n = (old as usize).min(self.staged.frames());
        self.staged.consume_frames(n);
        self.staged_at += n as u64;
    }

    fn apply(&mut self, control: Control) {
        match control {
            Control::Bandwidth { index, at } => {
                if self.pending.len() == MAX_PENDING_CHANGES {
                    let (oldest, _) = self.pending.remove(0);
                    self.set_bandwidth(oldest);
                }
                self.pending.push((index, at));
            }
            Control::Reset { epoch, at } => {
                self.stream_start = at;
                self.processor.reset();
                self.logged_failure = false;
                if let Some((down, up)) = &mut self.resamplers {
                    down.reset();
                    up.reset();
                }
                self.start_stream();
                // Changes made before the new stream hold from its start.
                while let Some(&(index, change_at)) = self.pending.first()
                    && change_at <= at
                {
                    self.set_bandwidth(index);
                    self.pending.remove(0);
                }
                self.shared
                    .output_mark
                    .store(self.written, Ordering::Relaxed);
                self.shared.started_epoch.store(epoch, Ordering::Release);
            }
        }
    }

    fn set_bandwidth(&mut self, index: usize) {
        self.processor.set_bandwidth(index);
        self.bandwidth = Some(index);
    }

    /// Whether the output ring can take everything one input chunk may produce.
    fn output_has_room(&self) -> bool {
        let s = self.stages;
        let up_chunks = (s.down_out + 2 * s.frame * s.per_step) / s.up_in + 2;
        self.output.vacant_len() >= up_chunks * s.up_out * self.channels
    }

    /// Runs one host chunk through resampling, the processor and back.
    fn process_chunk(&mut self) {
        let ch = self.channels;
        let s = self.stages;
        let chunk = &self.staged.data[..s.host_chunk * ch];
        match &mut self.resamplers {
            Some((down, _)) => {
                if let Err(error) = down.process(chunk, &mut self.down_buf) {
                    self.down_buf.fill(0.0);
                    self.report_failure(&error.into());
                }
                let dropped = self.skip.min(s.down_out);
                self.skip -= dropped;
                self.at_model_rate
                    .data
                    .extend_from_slice(&self.down_buf[dropped * ch..]);
            }
            None => self.at_model_rate.data.extend_from_slice(chunk),
        }
        self.staged.consume_frames(s.host_chunk);
        self.staged_at += s.host_chunk as u64;

        while self.at_model_rate.frames() >= s.frame * s.per_step {
            // One step, split where a bandwidth change is due so it lands on its frame.
            let mut done = 0;
            while done < s.per_step {
                self.apply_due_bandwidth();
                let run = self.frames_until_change().min(s.per_step - done);
                self.run_frames(run);
                done += run;
            }
        }
        while self.processed.frames() >= s.up_in {
            let chunk = &self.processed.data[..s.up_in * ch];
            let failed = match &mut self.resamplers {
                Some((_, up)) => up.process(chunk, &mut self.up_buf).err(),
                None => None,
            };
            if let Some(error) = failed {
                self.up_buf.fill(0.0);
                self.report_failure(&error.into());
            }
            let out: &[f32] = match self.resamplers {
                Some(_) => &self.up_buf,
                None => &self.processed.data[..s.up_in * ch],
            };
            self.written += self.output.push_slice(out) as u64;
            self.processed.consume_frames(s.up_in);
        }
    }

    /// Applies the bandwidth changes whose input position falls into the next frame or earlier.
    fn apply_due_bandwidth(&mut self) {
        let s = self.stages;
        while let Some(&(index, at)) = self.pending.first() {
            let in_stream = at.saturating_sub(self.stream_start);
            let at_24k = in_stream * u64::from(MODEL_RATE) / u64::from(self.host_rate)
                + (s.down_delay - s.grid_shift) as u64;
            if at_24k / s.frame as u64 > self.frames_done {
                break;
            }
            self.set_bandwidth(index);
            self.pending.remove(0);
        }
    }

    /// Frames from the next one until the first pending bandwidth change is due (at least 1;
    /// `usize::MAX` if none is pending).
    fn frames_until_change(&self) -> usize {
        self.pending.first().map_or(usize::MAX, |&(_, at)| {
            let frame = self.change_frame(at);
            (frame.saturating_sub(self.frames_done) as usize).max(1)
        })
    }

    /// The frame of the current stream that input frame `at` (absolute) falls into.
    fn change_frame(&self, at: u64) -> u64 {
        let s = self.stages;
        let in_stream = at.saturating_sub(self.stream_start);
        let at_24k = in_stream * u64::from(MODEL_RATE) / u64::from(self.host_rate)
            + (s.down_delay - s.grid_shift) as u64;
        at_24k / s.frame as u64
    }

    /// Counts a failed step, logs it if it is the first of the current stream and processor,
    /// and publishes its reason if that changed. Allocates only when the reason is longer than
    /// any before or differs from the last one.
    fn report_failure(&mut self, error: &ProcessError) {
        let failures = &self.shared.failures;
        failures.steps.fetch_add(1, Ordering::Relaxed);
        if !self.logged_failure {
            self.logged_failure = true;
            failures.logged.fetch_add(1, Ordering::Relaxed);
            nice_error!("a processing step failed and plays as silence: {error}");
        }
        self.reason_scratch.clear();
        // Writing to a String cannot fail.
        let _ = write!(self.reason_scratch, "{error}");
        if self.reason_scratch != self.failure_reason {
            std::mem::swap(&mut self.reason_scratch, &mut self.failure_reason);
            failures
                .reason
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone_from(&self.failure_reason);
        }
    }

    /// Runs the processor on the next `count` frames; failed steps and non-finite output
    /// become silence.
    fn run_frames(&mut self, count: usize) {
        if let Some((at, duration)) = self.stall
            && self.frames_done >= at
        {
            std::thread::sleep(duration);
            self.stall = None;
        }
        let ch = self.channels;
        let len = self.stages.frame * count;
        for (i, &s) in self.at_model_rate.data[..len * ch].iter().enumerate() {
            self.frame_in[i % ch][i / ch] = s;
        }
        self.at_model_rate.consume_frames(len);
        let (first_in, rest_in) = self.frame_in.split_at(1);
        let inputs: [&[f32]; 2] = [
            &first_in[0][..len],
            rest_in.first().map_or(&[], |c| &c[..len]),
        ];
        let (first_out, rest_out) = self.frame_out.split_at_mut(1);
        let mut outputs: [&mut [f32]; 2] = [
            &mut first_out[0][..len],
            rest_out.first_mut().map_or(&mut [], |c| &mut c[..len]),
        ];
        let failed = match self
            .processor
            .process_frames(&inputs[..ch], &mut outputs[..ch])
        {
            Ok(()) => None,
            Err(error) => {
                outputs[..ch].iter_mut().for_each(|o| o.fill(0.0));
                Some(error)
            }
        };
        let non_finite = outputs[..ch]
            .iter()
            .any(|o| o.iter().any(|s| !s.is_finite()));
        self.frames_done += count as u64;
        if let Some(error) = failed {
            self.report_failure(&error);
        }
        if non_finite {
            // A state that holds a non-finite value would keep the model silent for good.
            self.processor.reset();
            if self.shared.model_resets.fetch_add(1, Ordering::Relaxed) == 0 {
                nice_warn!(
                    "the model produced non-finite output (played as silence); its state was \
                     reset"
                );
            }
        }
        for n in 0..len {
            for c in 0..ch {
                let s = self.frame_out[c][n];
                self.processed
                    .data
                    .push(if s.is_finite() { s } else { 0.0 });
            }
        }
    }
}

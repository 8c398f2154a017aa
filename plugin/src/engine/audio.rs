//! The audio thread's side of the engine.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, bounded};
use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};
use vocos_dsp::delay::DelayLine;

use super::pace::PaceDetector;
use super::transport::{FrameGrid, Playhead, TransportFollower};
use super::worker::{Links, Worker};
use super::{Control, EngineError, EngineSetup, Failures, Plan, Shared, StreamProcessor};

/// Longest the audio thread waits for the worker in one `process` call when asked to wait,
/// before it gives up on a worker that stopped answering and plays an underrun.
const MAX_WAIT: Duration = Duration::from_secs(10);
/// Host frames interleaved per push into the input ring.
const PUSH_CHUNK: usize = 256;

/// The audio thread's handle; owns the worker thread, which is stopped and joined on drop.
pub struct Engine {
    input: HeapProd<f32>,
    output: HeapCons<f32>,
    controls: Sender<Control>,
    processors: Sender<Box<dyn StreamProcessor>>,
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
    worker_thread: Thread,
    plan: Plan,
    channels: usize,
    dry: Vec<DelayLine>,
    /// Interleaving buffer for input pushes.
    scratch: Vec<f32>,
    /// Current stream.
    epoch: u64,
    /// Host frames pushed into the input ring since start.
    pushed: u64,
    /// Interleaved samples taken from the output ring since start.
    popped: u64,
    /// Whether output before the current stream's mark has been discarded.
    at_mark: bool,
    /// Silence (host frames) still to play before the current stream's first output sample.
    warmup: usize,
    /// Frames played as silence because the worker was late; dropped when they arrive.
    deficit: usize,
    /// A bandwidth change the control queue had no room for; sent with the next block.
    unsent_bandwidth: Option<Control>,
    /// A stream restart the control queue had no room for.
    unsent_reset: bool,
    /// `None` when the setup does not ask to detect fast hosts.
    pace: Option<PaceDetector>,
    /// When the host's playback starts or jumps.
    transport: TransportFollower,
    /// Where the processor's frames start on the host's timeline.
    grid: FrameGrid,
    /// Whether the last block held input that is not audio (see [`Self::broken_input_blocks`]).
    after_broken_input: bool,
}

impl Engine {
    /// Starts the worker thread for `processor`. Allocates: call off the audio thread or in
    /// the host's activate.
    pub fn start(
        setup: EngineSetup,
        processor: Box<dyn StreamProcessor>,
    ) -> Result<Self, EngineError> {
        let resamplers = Plan::resamplers(&setup)?;
        let timing = processor.timing();
        let plan = Plan::new(
            &setup,
            timing.step(),
            timing.latency,
            resamplers.as_ref().map(|(d, u)| (d, u)),
        );
        let ch = setup.channels;
        let (input, worker_input) = HeapRb::<f32>::new(plan.input_frames * ch).split();
        let (worker_output, output) = HeapRb::<f32>::new(plan.output_frames * ch).split();
        let (controls, receiver) = bounded(256);
        let (processors, processor_receiver) = bounded(1);
        let shared = Arc::new(Shared::default());
        let links = Links {
            input: worker_input,
            output: worker_output,
            controls: receiver,
            processors: processor_receiver,
            shared: shared.clone(),
        };
        let worker = Worker::new(processor, setup, links, resamplers);
        let handle = std::thread::Builder::new()
            .name("vocos-inference".into())
            .spawn(move || worker.run())
            .map_err(EngineError::Spawn)?;
        Ok(Self {
            input,
            output,
            controls,
            processors,
            shared,
            worker_thread: handle.thread().clone(),
            worker: Some(handle),
            plan,
            channels: ch,
            dry: (0..ch).map(|_| DelayLine::new(plan.latency)).collect(),
            scratch: vec![0.0; PUSH_CHUNK * ch],
            epoch: 0,
            pushed: 0,
            popped: 0,
            at_mark: true,
            warmup: plan.buffering,
            deficit: 0,
            unsent_bandwidth: None,
            unsent_reset: false,
            pace: setup
                .detect_fast_host
                .then(|| PaceDetector::new(setup.host_rate, setup.max_block)),
            transport: TransportFollower::default(),
            grid: FrameGrid {
                frame: timing.frame,
                host_rate: setup.host_rate,
            },
            after_broken_input: false,
        })
    }

    /// Exact input-to-output delay in host samples.
    pub fn latency(&self) -> usize {
        self.plan.latency
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Where to send a processor that replaces the current one between frames (a model
    /// finished loading). It must have the same frame size and latency, else it is dropped.
    /// For the main thread: the send happens off the audio thread.
    pub fn processor_sender(&self) -> Sender<Box<dyn StreamProcessor>> {
        self.processors.clone()
    }

    /// Blocks in which the worker was late, since start.
    pub fn underruns(&self) -> u64 {
        self.shared.underruns.load(Ordering::Relaxed)
    }

    /// Selects bandwidth `index` from the model frame that the next input sample falls into
    /// (`offset` samples into the next block, for sample-accurate automation).
    pub fn set_bandwidth(&mut self, index: usize, offset: usize) {
        let message = Control::Bandwidth {
            index,
            at: self.pushed + offset as u64,
        };
        if self.controls.try_send(message).is_err() {
            self.unsent_bandwidth = Some(message);
        }
    }

    /// Starts a new stream: the worker drops its state and the pending input, and the dry path
    /// is cleared. Never waits.
    pub fn reset(&mut self) {
        self.dry.iter_mut().for_each(DelayLine::reset);
        self.restart_stream();
    }

    /// Follows the host's transport; call before [`Self::process`] with what the host reports
    /// for the block (`None` if it reports no position). When playback starts or jumps, the
    /// stream restarts as [`Self::reset`] does, preceded by the silence that puts the
    /// processor's frame grid on the timeline (frames start at multiples of the frame on the
    /// 24 kHz axis), so the output depends only on the audio and on where playback started.
    /// Never waits; the latency is unchanged. Hosts whose positions do not advance with the
    /// audio get one continuous stream instead ([`Self::ignores_transport`]).
    pub fn follow_transport(&mut self, playhead: Option<Playhead>) {
        if let Some(position) = self.transport.observe(playhead) {
            self.dry.iter_mut().for_each(DelayLine::reset);
            self.restart_stream_at(Some(position));
        }
    }

    /// Starts a new stream with the next input sample, which lies at timeline `position` if
    /// known: the stream then begins with the silence that puts the frame grid on the timeline.
    fn restart_stream_at(&mut self, position: Option<i64>) {
        self.restart_stream();
        let Some(position) = position else {
            return;
        };
        // The lead is at most a frame and the warm-up at least a step (`Plan::buffering`): the
        // stream's first output, that of the leading silence, plays `lead` samples earlier so
        // the audio at `position` keeps its place. Without room in the ring (a stalled worker)
        // the stream starts unaligned.
        let lead = self.grid.lead(position).min(self.warmup);
        let samples = lead * self.channels;
        if self.input.vacant_len() >= samples {
            self.input.push_iter(std::iter::repeat_n(0.0, samples));
            self.pushed += lead as u64;
            self.warmup -= lead;
        }
    }

    /// Blocks whose input held samples that are not audio (NaN, infinities, magnitudes beyond
    /// [`INPUT_LIMIT`]), since start.
    pub fn broken_input_blocks(&self) -> u64 {
        self.shared.broken_input_blocks.load(Ordering::Relaxed)
    }

    /// Whether the host's transport positions were found not to follow the audio, so the
    /// stream no longer restarts with playback (see [`Self::follow_transport`]).
    pub fn ignores_transport(&self) -> bool {
        self.transport.gave_up()
    }

    /// The worker's failed steps, for the main thread and the editor: the handle outlives the
    /// engine.
    pub fn failures(&self) -> Arc<Failures> {
        self.shared.failures.clone()
    }

    /// Times the processor produced non-finite output and was reset, since start.
    pub fn model_resets(&self) -> u64 {
        self.shared.model_resets.load(Ordering::Relaxed)
    }

    /// Notes input that is not audio in this block; the first clean block after such input
    /// restarts the stream (on the timeline's grid when playing), so the model's state holds
    /// nothing of it: from there the output is the model's output of the clean audio.
    fn watch_for_broken_input(&mut self, channels: &[&mut [f32]]) {
        let broken = channels
            .iter()
            .take(self.channels)
            .any(|c| c.iter().any(|&s| !is_audio(s)));
        if broken {
            self.shared
                .broken_input_blocks
                .fetch_add(1, Ordering::Relaxed);
            self.after_broken_input = true;
        } else if self.after_broken_input {
            self.after_broken_input = false;
            self.restart_stream_at(self.transport.position());
        }
    }

    /// Starts a new stream at the current input position; the output of the old one is
    /// discarded as it arrives.
    fn restart_stream(&mut self) {
        self.epoch += 1;
        self.at_mark = false;
        self.warmup = self.plan.buffering;
        self.deficit = 0;
        self.send_reset();
    }

    fn send_reset(&mut self) {
        let message = Control::Reset {
            epoch: self.epoch,
            at: self.pushed,
        };
        self.unsent_reset = self.controls.try_send(message).is_err();
    }

    /// Processes one block in place: `channels[c]` are the host buffers, all the same length.
    /// Samples that are not audio (see [`INPUT_LIMIT`]) are taken as silence on both paths.
    /// With `offline` (the host says it renders offline), or when the host calls faster than
    /// real time, the audio thread waits for the worker instead of playing an underrun.
    /// `mix_gain` yields the wet share and a linear gain for each sample.
    // Samples are interleaved across channels one frame at a time, hence the index loop.
    #[allow(clippy::needless_range_loop)]
    pub fn process(
        &mut self,
        channels: &mut [&mut [f32]],
        offline: bool,
        mut mix_gain: impl FnMut() -> (f32, f32),
    ) {
        let ch = self.channels;
        let len = channels.first().map_or(0, |c| c.len());
        self.watch_for_broken_input(channels);
        self.transport.advance(len);
        let ahead = self.pace.as_mut().is_some_and(|pace| pace.ahead(len));
        let wait = offline || ahead;
        self.retry_controls();
        self.push_input(channels, len);
        if wait {
            // A system call, acceptable when rendering offline: the worker need not finish
            // its idle sleep.
            self.worker_thread.unpark();
        }

        let warm = len.min(self.warmup);
        self.warmup -= warm;
        // Frames this block wants from the ring: the late ones to drop first, then its own.
        let wanted = self.deficit + (len - warm);
        let mut available = self.stream_frames_available();
        if wait && available < wanted {
            let start = Instant::now();
            while available < wanted && start.elapsed() < MAX_WAIT {
                std::thread::yield_now();
                available = self.stream_frames_available();
            }
        }
        let dropped = available.min(self.deficit);
        self.skip_frames(dropped);
        self.deficit -= dropped;
        available -= dropped;
        if available < len - warm {
            self.shared.underruns.fetch_add(1, Ordering::Relaxed);
        }

        let mut wet = [0f32; 2];
        for n in 0..len {
            if n < warm {
                wet = [0.0; 2];
            } else if available > 0 {
                self.popped += self.output.pop_slice(&mut wet[..ch]) as u64;
                available -= 1;
            } else {
                wet = [0.0; 2];
                self.deficit += 1;
            }
            let (mix, gain) = mix_gain();
            for c in 0..ch {
                let dry = self.dry[c].process(sanitize(channels[c][n]));
                channels[c][n] = flush_subnormal((mix * wet[c] + (1.0 - mix) * dry) * gain);
            }
        }
    }

    /// Interleaves the block into the input ring, non-finite samples replaced by silence. If
    /// the ring has no room for the whole block (the worker has stalled for about a second), the
    /// block is left out and a new stream starts with the next one, so no input ever lands out
    /// of place.
    fn push_input(&mut self, channels: &[&mut [f32]], len: usize) {
        let ch = self.channels;
        if self.input.vacant_len() < len * ch {
            self.restart_stream();
            self.warmup += len;
            return;
        }
        for start in (0..len).step_by(PUSH_CHUNK) {
            let n = (len - start).min(PUSH_CHUNK);
            for (c, channel) in channels.iter().enumerate().take(ch) {
                for (i, &s) in channel[start..start + n].iter().enumerate() {
                    self.scratch[i * ch + c] = sanitize(s);
                }
            }
            self.input.push_slice(&self.scratch[..n * ch]);
        }
        self.pushed += len as u64;
    }

    fn retry_controls(&mut self) {
        if let Some(message) = self.unsent_bandwidth
            && self.controls.try_send(message).is_ok()
        {
            self.unsent_bandwidth = None;
        }
        if self.unsent_reset {
            self.send_reset();
        }
    }

    /// Output frames of the current stream waiting in the ring, after discarding what belongs
    /// to older streams.
    fn stream_frames_available(&mut self) -> usize {
        if !self.at_mark {
            if self.shared.started_epoch.load(Ordering::Acquire) != self.epoch {
                // Everything in the ring is from an older stream.
                let stale = self.output.occupied_len() as u64;
                self.popped += self.output.skip(stale as usize) as u64;
                return 0;
            }
            let mark = self.shared.output_mark.load(Ordering::Relaxed);
            let stale = mark.saturating_sub(self.popped);
            self.popped += self.output.skip(stale as usize) as u64;
            if self.popped < mark {
                return 0;
            }
            self.at_mark = true;
        }
        self.output.occupied_len() / self.channels
    }

    /// Waits until the worker has taken all input and gone idle (tests that emulate a worker
    /// keeping up with real time).
    #[cfg(test)]
    pub(crate) fn settle(&self) {
        while self.shared.idle_at.load(Ordering::Acquire) != self.pushed {
            self.worker_thread.unpark();
            std::thread::yield_now();
        }
    }

    fn skip_frames(&mut self, frames: usize) {
        self.popped += self.output.skip(frames * self.channels) as u64;
    }
}

/// Zero for a subnormal sample (below -758 dBFS): the mix and gain can make one from tiny
/// samples, the audio thread does not flush them in hardware (nice-plug leaves the host's
/// floating-point mode alone), and hosts or effects after the plugin may slow down on them.
fn flush_subnormal(sample: f32) -> f32 {
    if sample.is_subnormal() { 0.0 } else { sample }
}

/// Largest input magnitude taken as audio (+60 dBFS). Beyond it a sample is taken as broken,
/// as a non-finite one is.
const INPUT_LIMIT: f32 = 1_000.0;

/// Whether a sample is audio: finite and within [`INPUT_LIMIT`].
fn is_audio(sample: f32) -> bool {
    sample.abs() <= INPUT_LIMIT
}

/// The sample if it is audio, else silence; subnormal samples (below -758 dBFS) become silence
/// too, as arithmetic on them is slow on the audio thread.
fn sanitize(sample: f32) -> f32 {
    if is_audio(sample) && !sample.is_subnormal() {
        sample
    } else {
        0.0
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.worker_thread.unpark();
        if let Some(handle) = self.worker.take() {
            let _ = handle.join();
        }
    }
}

//! The one streaming design every stateful layer follows.
//!
//! A layer that looks at more than its current input row (a padded convolution, an LSTM, an
//! overlap-add) is wrapped in a stream type that holds the layer's shared weights (an `Arc`)
//! and, beside them, the state the layer carries from one call to the next. Every stream type
//! implements [`StreamingModule`]: [`StreamingModule::step`] takes the next input rows and
//! appends the output rows that became final; [`StreamingModule::flush`] ends the signal the
//! way the offline model ends a clip (its right padding) and appends the rest;
//! [`StreamingModule::reset`] returns to the stream start. A composite (a residual unit, the
//! encoder, the Vocos backbone) steps its parts in the order its offline `forward` calls them.
//!
//! There is no second, offline copy of a layer: the offline form of a model is a fresh stream
//! given the whole clip and flushed, so the offline output and the streaming
//! output are the same computation, and "streaming equals offline" holds by construction for
//! every chunking at which the steps are exact (tested per pipeline).
//!
//! Signals are [`Rows`]: plain caller-owned buffers holding several channels in step
//! (independent signals, e.g. left and right), so that each layer runs one matrix product over
//! all channels' rows and reads its weights once per step.

use crate::error::{ModelError, Result};

/// Rows of `width` values of `channels` signals in step, channel-major: channel 0's rows, then
/// channel 1's. Every channel has the same number of rows. Rows may carry one conditioning id
/// each (the Vocos EnCodec variant's bandwidth id of the frame), shared by the channels.
///
/// Invariants: `data.len() == channels * len * width`; `ids` is empty (unconditioned) or has
/// `len` entries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows {
    data: Vec<f32>,
    channels: usize,
    width: usize,
    len: usize,
    ids: Vec<usize>,
}

impl Rows {
    /// No rows yet, for `channels` signals of `width` values per row.
    pub fn empty(channels: usize, width: usize) -> Self {
        Self {
            data: Vec::new(),
            channels,
            width,
            len: 0,
            ids: Vec::new(),
        }
    }

    /// Rows from channel-major `data` (`channels * len * width` values); `ids` empty or one
    /// per row.
    ///
    /// # Panics
    /// If `data` is not whole rows of every channel, or `ids` has another length.
    pub fn new(data: Vec<f32>, channels: usize, width: usize, ids: Vec<usize>) -> Self {
        let len = data.len() / (channels * width).max(1);
        assert_eq!(data.len(), channels * len * width, "not whole rows");
        assert!(ids.is_empty() || ids.len() == len, "one id per row");
        Self {
            data,
            channels,
            width,
            len,
            ids,
        }
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    pub fn width(&self) -> usize {
        self.width
    }

    /// Rows per channel.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// All values, channel-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// The ids of the rows (empty when unconditioned).
    pub fn ids(&self) -> &[usize] {
        &self.ids
    }

    /// Gives the rows their ids (one per row).
    ///
    /// # Panics
    /// If `ids` has another length than the rows.
    pub fn set_ids(&mut self, ids: Vec<usize>) {
        assert_eq!(ids.len(), self.len, "one id per row");
        self.ids = ids;
    }

    /// Channel `n`'s rows `range`.
    pub fn rows(&self, n: usize, range: std::ops::Range<usize>) -> &[f32] {
        let start = n * self.len + range.start;
        &self.data[start * self.width..(start + range.len()) * self.width]
    }

    /// Channel `n`'s rows.
    pub fn channel(&self, n: usize) -> &[f32] {
        self.rows(n, 0..self.len)
    }

    /// Appends channel `n`'s values to `out[n]`, for every channel `out` has.
    pub fn extend_channels(&self, out: &mut [Vec<f32>]) {
        for (n, out) in out.iter_mut().enumerate().take(self.channels) {
            out.extend_from_slice(self.channel(n));
        }
    }

    /// Empties the buffer, keeping its capacity, channels and width.
    pub fn clear(&mut self) {
        self.data.clear();
        self.ids.clear();
        self.len = 0;
    }

    /// Appends `other`'s rows (same channels and width) after each channel's own.
    pub fn append(&mut self, other: &Rows) {
        self.append_part(other, 0..other.len);
    }

    /// Appends `other`'s rows `range` after each channel's own. Rows still empty take
    /// `other`'s shape.
    pub fn append_part(&mut self, other: &Rows, range: std::ops::Range<usize>) {
        if range.is_empty() {
            return;
        }
        if self.len == 0 {
            self.clear();
            (self.channels, self.width) = (other.channels, other.width);
        }
        assert_eq!(
            (self.channels, self.width),
            (other.channels, other.width),
            "rows of another shape"
        );
        let added = range.len();
        if self.channels == 1 || self.len == 0 {
            for n in 0..self.channels {
                self.data.extend_from_slice(other.rows(n, range.clone()));
            }
        } else {
            // Make room at the end of every channel, from the last channel backwards.
            let (old, new) = (self.len * self.width, (self.len + added) * self.width);
            self.data.resize(self.channels * new, 0.0);
            for n in (0..self.channels).rev() {
                self.data.copy_within(n * old..(n + 1) * old, n * new);
                self.data[n * new + old..(n + 1) * new]
                    .copy_from_slice(other.rows(n, range.clone()));
            }
        }
        if !other.ids.is_empty() {
            self.ids.extend_from_slice(&other.ids[range]);
        }
        self.len += added;
    }

    /// Appends one row of `value` to every channel, with `id` if the rows are conditioned.
    pub fn push_constant(&mut self, value: f32, id: Option<usize>) {
        let row = Rows::new(
            vec![value; self.channels * self.width],
            self.channels,
            self.width,
            id.into_iter().collect(),
        );
        self.append(&row);
    }

    /// Drops each channel's rows before `from`.
    pub fn drop_front(&mut self, from: usize) {
        let from = from.min(self.len);
        if from == 0 {
            return;
        }
        let (old, new) = (self.len * self.width, (self.len - from) * self.width);
        for n in 0..self.channels {
            self.data
                .copy_within(n * old + from * self.width..(n + 1) * old, n * new);
        }
        self.data.truncate(self.channels * new);
        if !self.ids.is_empty() {
            self.ids.drain(..from);
        }
        self.len -= from;
    }

    /// Each channel's rows `1..=pad` reflected in front of its rows (encodec
    /// `pad1d(mode='reflect')` on the left). Needs `len > pad`.
    pub fn reflect_left(&mut self, pad: usize) {
        assert!(
            self.len > pad,
            "reflection needs more rows than the padding"
        );
        let mut padded = Rows::empty(self.channels, self.width);
        padded
            .data
            .reserve(self.data.len() + self.channels * pad * self.width);
        for n in 0..self.channels {
            for r in (1..=pad).rev() {
                padded.data.extend_from_slice(self.rows(n, r..r + 1));
            }
            padded.data.extend_from_slice(self.channel(n));
        }
        padded.len = self.len + pad;
        padded.ids = self.ids.clone();
        *self = padded;
    }

    /// Each channel's last rows reflected after it, `pad` of them (encodec
    /// `pad1d(mode='reflect')` on the right: row `len + i` is row `len - 2 - i`). Needs
    /// `len > pad`.
    pub fn reflect_right(&mut self, pad: usize) {
        if pad == 0 {
            return;
        }
        assert!(
            self.len > pad,
            "reflection needs more rows than the padding"
        );
        let mut tail = Rows::empty(self.channels, self.width);
        for n in 0..self.channels {
            for i in 0..pad {
                let r = self.len - 2 - i;
                tail.data.extend_from_slice(self.rows(n, r..r + 1));
            }
        }
        tail.len = pad;
        self.append(&tail);
    }

    /// The values, giving up the rows.
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    /// Takes the values out, leaving the rows empty.
    pub fn take_data(&mut self) -> Vec<f32> {
        self.len = 0;
        self.ids.clear();
        std::mem::take(&mut self.data)
    }
}

/// A layer (or a composition of layers) run on a signal arriving in pieces. See the module
/// documentation for the contract.
pub trait StreamingModule {
    /// Takes the next input rows of every channel (any number, none included) and appends the
    /// output rows that became final to `out`.
    fn step(&mut self, x: &Rows, out: &mut Rows) -> Result<()>;

    /// Ends the signal as the offline form ends a clip (its right padding) and appends every
    /// output row still to come to `out`. Call [`Self::reset`] before using the stream again.
    fn flush(&mut self, out: &mut Rows) -> Result<()>;

    /// Back to the stream start.
    fn reset(&mut self);
}

/// Frames per step of the offline forms (1.7 s of EnCodec frames): every intermediate signal
/// stays a few MB however long the clip, and every product runs on the packed kernels.
pub const OFFLINE_CHUNK_FRAMES: usize = 128;

/// The offline form of a stream: `x` given `chunk` rows per step, then flushed.
pub fn offline(stream: &mut impl StreamingModule, x: &Rows, chunk: usize) -> Result<Rows> {
    let mut out = Rows::default();
    let mut start = 0;
    while start < x.len() {
        let end = (start + chunk.max(1)).min(x.len());
        let mut piece = Rows::default();
        piece.append_part(x, start..end);
        stream.step(&piece, &mut out)?;
        start = end;
    }
    stream.flush(&mut out)?;
    Ok(out)
}

/// A composition of layers whose step and flush are one pass through its parts in the order of
/// the offline `forward` ([`Composite::run`]): every composite is a [`StreamingModule`].
pub trait Composite {
    /// Steps `x` through the parts, each one's output the next one's input; with `flush`, each
    /// part is flushed after its input ended (see [`pass`]).
    fn run(&mut self, x: &Rows, flush: bool, out: &mut Rows) -> Result<()>;

    /// Every part back to its stream start.
    fn reset_parts(&mut self);
}

impl<T: Composite> StreamingModule for T {
    fn step(&mut self, x: &Rows, out: &mut Rows) -> Result<()> {
        self.run(x, false, out)
    }

    fn flush(&mut self, out: &mut Rows) -> Result<()> {
        self.run(&Rows::default(), true, out)
    }

    fn reset(&mut self) {
        self.reset_parts();
    }
}

/// One layer of a composite's chain: `x` stepped through `layer`, then, when `flush`, the
/// layer flushed after it, so the right padding of every layer applies in the offline order.
pub fn pass(layer: &mut impl StreamingModule, x: &Rows, flush: bool) -> Result<Rows> {
    let mut y = Rows::default();
    layer.step(x, &mut y)?;
    if flush {
        layer.flush(&mut y)?;
    }
    Ok(y)
}

/// The start of a whole pipeline's output: silence, one sample for each input sample, until
/// the pipeline's latency is covered, so that output sample `n` is the processed input sample
/// `n - latency` from the first call on.
#[derive(Debug, Clone)]
pub struct SilentStart {
    latency: usize,
    emitted: usize,
}

impl SilentStart {
    pub fn new(latency: usize) -> Self {
        Self {
            latency,
            emitted: 0,
        }
    }

    pub fn latency(&self) -> usize {
        self.latency
    }

    /// Appends to every channel the silence due once `samples_in` input samples have been
    /// taken (whole frames only: a partial frame gives no output yet).
    pub fn emit(&mut self, samples_in: usize, out: &mut [Vec<f32>]) {
        let due = samples_in.min(self.latency).saturating_sub(self.emitted);
        for out in out.iter_mut() {
            out.extend(std::iter::repeat_n(0.0, due));
        }
        self.emitted += due;
    }

    pub fn reset(&mut self) {
        self.emitted = 0;
    }
}

/// Checks one call of a stream of `channels` channels: as many inputs and outputs as channels,
/// all inputs of one length, which it returns.
pub fn check_channels(audio: &[&[f32]], outputs: usize, channels: usize) -> Result<usize> {
    if audio.len() != channels || outputs != channels {
        return Err(ModelError::Channels {
            expected: channels,
            inputs: audio.len(),
            outputs,
        });
    }
    let len = audio.first().map_or(0, |a| a.len());
    if let Some(other) = audio.iter().map(|a| a.len()).find(|&l| l != len) {
        return Err(ModelError::ChannelLengths { first: len, other });
    }
    Ok(len)
}

/// Channel-major rows of one sample each from one slice per channel.
pub fn audio_rows(audio: &[&[f32]]) -> Rows {
    Rows::new(audio.concat(), audio.len(), 1, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(channels: usize, len: usize, width: usize, base: f32) -> Rows {
        let data = (0..channels * len * width)
            .map(|i| base + i as f32)
            .collect();
        Rows::new(data, channels, width, Vec::new())
    }

    #[test]
    fn append_and_drop_keep_channels_apart() {
        let mut a = rows(2, 2, 1, 0.0); // [0, 1 | 2, 3]
        a.append(&rows(2, 1, 1, 10.0)); // [10 | 11]
        assert_eq!(a.data(), [0., 1., 10., 2., 3., 11.]);
        a.drop_front(1);
        assert_eq!(a.data(), [1., 10., 3., 11.]);
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn reflections_match_torch_reflect_padding() {
        // torch: F.pad([1, 2, 3, 4], (2, 2), mode='reflect') = [3, 2, 1, 2, 3, 4, 3, 2]
        let mut a = Rows::new(vec![1., 2., 3., 4.], 1, 1, Vec::new());
        a.reflect_left(2);
        a.reflect_right(2);
        assert_eq!(a.data(), [3., 2., 1., 2., 3., 4., 3., 2.]);
    }

    #[test]
    fn ids_follow_their_rows() {
        let mut a = Rows::new(vec![0.; 4], 2, 1, vec![5, 6]);
        a.append(&Rows::new(vec![1.; 2], 2, 1, vec![7]));
        a.drop_front(1);
        assert_eq!(a.ids(), [6, 7]);
    }
}

//! Vocos as a stream: feature frames in (with each frame's bandwidth id for the EnCodec
//! variant), audio out as soon as it is final. The offline [`super::Vocos::decode`] is this
//! stream given every frame and flushed.
//!
//! Timing: the backbone emits hidden frame `t` once feature frame `t + LOOKAHEAD` (27) has
//! arrived ([`super::backbone`]); the head emits output sample `n` once hidden frame
//! `floor((n + trim) / hop)` has ([`super::head`]). So after feature frames `0..F`, output
//! samples `n < (F - 27) * hop - trim` are final.
//!
//! One stream runs several channels in step (same frames, same bandwidth ids): every layer is
//! one matrix product over all channels' frames, so the weights are read once per step.

use super::backbone::BackboneStream;
use super::head::HeadStream;
use super::{Frontend, Vocos};
use crate::error::{ModelError, Result};
use crate::streaming::{Composite, Rows, StreamingModule, pass};

/// One stream of one or more channels through a shared [`Vocos`].
pub struct VocosStream {
    /// Bandwidth ids the frames may carry (`0..bandwidths`; none for the mel variant).
    bandwidths: usize,
    backbone: BackboneStream,
    head: HeadStream,
}

impl VocosStream {
    /// A stream of `channels` signals through `model`'s shared weights.
    pub fn new(model: &Vocos, channels: usize) -> Result<Self> {
        Ok(Self {
            bandwidths: match &model.frontend {
                Frontend::Encodec { bandwidths, .. } => bandwidths.len(),
                Frontend::Mel(_) => 0,
            },
            backbone: BackboneStream::new(model.backbone.clone()),
            head: HeadStream::new(model.head.clone(), channels)?,
        })
    }
}

impl Composite for VocosStream {
    fn run(&mut self, x: &Rows, flush: bool, out: &mut Rows) -> Result<()> {
        if let Some(&id) = x.ids().iter().find(|&&id| id >= self.bandwidths) {
            return Err(ModelError::BandwidthId {
                id,
                count: self.bandwidths,
            });
        }
        let hidden = pass(&mut self.backbone, x, flush)?;
        self.head.step(&hidden, out)?;
        if flush {
            self.head.flush(out)?;
        }
        Ok(())
    }

    fn reset_parts(&mut self) {
        self.backbone.reset();
        self.head.reset();
    }
}

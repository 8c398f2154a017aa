//! The EnCodec encoder as a stream: audio rows in any chunk sizes, latent frames out as soon as
//! they are final. The offline encoder ([`super::Encodec::latent`]) is this stream given the
//! whole clip and flushed.
//!
//! Each composite steps its parts in the order of the reference's `forward`: the input conv,
//! per down-sampling stage its residual units, ELU and strided conv, the LSTM, ELU and the
//! output conv (layer list in [`super::seanet`]). Every conv keeps the padded input it has not
//! consumed yet at its own rate ([`ConvStream`]), the LSTM its recurrent state
//! ([`LstmStream`]).
//!
//! Timing: the encoder takes whole frames of `hop` samples. Latent frame `t` is final once input
//! sample `hop * t + hop - 1` has been pushed, except at the stream start, where the output
//! conv's reflection (kernel 7: padding 6 frames) makes frames `0..=6` final together with
//! frame 6. The flush encodes the last partial frame with the reference's right padding, so
//! the stream then has given `ceil(N / hop)` frames, the offline output.

use std::sync::Arc;

use super::activation::elu_in_place;
use super::conv::ConvStream;
use super::lstm::LstmStream;
use super::seanet::{DownStage, ResidualBlock, SeanetEncoder};
use crate::error::Result;
use crate::streaming::{Composite, Rows, StreamingModule, pass};

/// A residual unit streaming: `shortcut(x) + conv_1x1(ELU(conv_k(ELU(x))))`, the block inputs
/// kept until the branch output of their rows is final (the 1x1 convs have no padding and run
/// on each row as it comes).
pub struct ResidualStream {
    block: Arc<ResidualBlock>,
    conv_k: ConvStream,
    /// Block inputs whose branch output is not out yet.
    waiting: Rows,
}

impl ResidualStream {
    pub fn new(block: Arc<ResidualBlock>, channels: usize) -> Self {
        Self {
            conv_k: ConvStream::new(block.conv_k.clone(), channels),
            waiting: Rows::default(),
            block,
        }
    }

    /// The rest of the block on the conv_k outputs now final.
    fn finish(&mut self, mut branch: Rows, out: &mut Rows) {
        let (channels, done) = (branch.channels(), branch.len());
        if done == 0 {
            return;
        }
        elu_in_place(branch.data_mut());
        let mut y = self
            .block
            .conv_1
            .convolve_channels(branch.data(), channels, done);
        let input: Vec<f32> = (0..channels)
            .flat_map(|n| self.waiting.rows(n, 0..done).iter().copied())
            .collect();
        match &self.block.shortcut {
            Some(conv) => {
                let skip = conv.convolve_channels(&input, channels, done);
                y.iter_mut().zip(skip).for_each(|(y, s)| *y += s);
            }
            None => y.iter_mut().zip(input).for_each(|(y, s)| *y += s),
        }
        out.append(&Rows::new(y, channels, self.waiting.width(), Vec::new()));
        self.waiting.drop_front(done);
    }
}

impl StreamingModule for ResidualStream {
    fn step(&mut self, x: &Rows, out: &mut Rows) -> Result<()> {
        self.waiting.append(x);
        let mut activated = x.clone();
        elu_in_place(activated.data_mut());
        let branch = pass(&mut self.conv_k, &activated, false)?;
        self.finish(branch, out);
        Ok(())
    }

    fn flush(&mut self, out: &mut Rows) -> Result<()> {
        let mut branch = Rows::default();
        self.conv_k.flush(&mut branch)?;
        self.finish(branch, out);
        Ok(())
    }

    fn reset(&mut self) {
        self.conv_k.reset();
        self.waiting.clear();
    }
}

/// One down-sampling stage streaming: its residual units, ELU, its strided conv.
pub struct StageStream {
    blocks: Vec<ResidualStream>,
    down: ConvStream,
}

impl StageStream {
    pub fn new(stage: &DownStage, channels: usize) -> Self {
        Self {
            blocks: stage
                .blocks
                .iter()
                .map(|block| ResidualStream::new(block.clone(), channels))
                .collect(),
            down: ConvStream::new(stage.down.clone(), channels),
        }
    }
}

impl Composite for StageStream {
    fn run(&mut self, x: &Rows, flush: bool, out: &mut Rows) -> Result<()> {
        let mut x = x.clone();
        for block in &mut self.blocks {
            x = pass(block, &x, flush)?;
        }
        elu_in_place(x.data_mut());
        self.down.step(&x, out)?;
        if flush {
            self.down.flush(out)?;
        }
        Ok(())
    }

    fn reset_parts(&mut self) {
        self.blocks.iter_mut().for_each(ResidualStream::reset);
        self.down.reset();
    }
}

/// The SEANet encoder streaming, on audio rows (width 1) of one or more channels in step; its
/// output rows are latent frames of `D` values.
pub struct EncoderStream {
    hop: usize,
    /// Input samples not yet a whole frame.
    partial: Rows,
    input: ConvStream,
    stages: Vec<StageStream>,
    lstm: LstmStream,
    output: ConvStream,
}

impl EncoderStream {
    /// A stream of `channels` signals.
    pub fn new(encoder: &SeanetEncoder, channels: usize) -> Self {
        Self {
            hop: encoder.hop,
            partial: Rows::default(),
            input: ConvStream::new(encoder.input_conv.clone(), channels),
            stages: encoder
                .stages
                .iter()
                .map(|stage| StageStream::new(stage, channels))
                .collect(),
            lstm: LstmStream::new(encoder.lstm.clone(), channels),
            output: ConvStream::new(encoder.output_conv.clone(), channels),
        }
    }

    fn run(&mut self, x: &Rows, flush: bool, out: &mut Rows) -> Result<()> {
        let mut x = pass(&mut self.input, x, flush)?;
        for stage in &mut self.stages {
            x = pass(stage, &x, flush)?;
        }
        let mut x = pass(&mut self.lstm, &x, flush)?;
        elu_in_place(x.data_mut());
        self.output.step(&x, out)?;
        if flush {
            self.output.flush(out)?;
        }
        Ok(())
    }
}

impl StreamingModule for EncoderStream {
    fn step(&mut self, x: &Rows, out: &mut Rows) -> Result<()> {
        self.partial.append(x);
        let whole = self.partial.len() / self.hop * self.hop;
        if whole == 0 {
            return Ok(());
        }
        let mut frames = Rows::default();
        frames.append_part(&self.partial, 0..whole);
        self.partial.drop_front(whole);
        self.run(&frames, false, out)
    }

    fn flush(&mut self, out: &mut Rows) -> Result<()> {
        let rest = std::mem::take(&mut self.partial);
        self.run(&rest, true, out)
    }

    fn reset(&mut self) {
        self.partial.clear();
        self.input.reset();
        self.stages.iter_mut().for_each(StageStream::reset);
        self.lstm.reset();
        self.output.reset();
    }
}

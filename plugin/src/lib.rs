//! Vocos Codec: EnCodec -> RVQ -> Vocos resynthesis as a CLAP/VST3 plugin.

pub mod engine;

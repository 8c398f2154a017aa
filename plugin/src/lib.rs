//! Vocos Codec: EnCodec -> RVQ -> Vocos resynthesis as a CLAP/VST3 plugin.
//!
//! - [`engine`]: the real-time engine (lock-free rings, worker thread, resampling, latency);
//! - [`codec_processor`]: the streaming models as the engine's processor; [`models`] finds and
//!   shares the weights, [`loader`] loads them in the background; [`hub`] downloads them from
//!   the Hugging Face Hub;
//! - [`plugin`]: the nice-plug plugin and its [`params`];
//! - [`editor`]: the egui editor, showing [`status`].

pub mod codec_processor;
pub mod editor;
pub mod engine;
pub mod hub;
pub mod loader;
pub mod models;
pub mod params;
pub mod plugin;
pub mod status;

pub use plugin::VocosCodec;

nice_plug::nice_export_clap!(VocosCodec);
nice_plug::nice_export_vst3!(VocosCodec);

//! Signal processing for vocos-plugin. No neural code lives here.

// Real-time plumbing (foundation).
pub mod delay;
pub mod resample;
pub mod resample_clip;

// Spectral processing used by the models.
pub mod istft;
pub mod log_mel_stream;
pub mod mel;
pub mod overlap_add;
pub mod stft;
pub mod window;

//! The plugin's parameters and persisted fields.

use std::sync::Mutex;

use nice_plug::prelude::*;

use crate::models::ModelKind;

/// EnCodec bandwidths the plugin offers (the Vocos EnCodec checkpoint's four bandwidth ids).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bandwidth {
    #[id = "1.5kbps"]
    #[name = "1.5 kbps"]
    Kbps1_5,
    #[id = "3kbps"]
    #[name = "3 kbps"]
    Kbps3,
    #[id = "6kbps"]
    #[name = "6 kbps"]
    Kbps6,
    #[id = "12kbps"]
    #[name = "12 kbps"]
    Kbps12,
}

impl Bandwidth {
    /// The Vocos bandwidth id (0..4), which is also the engine's bandwidth index.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// How many model frames the inference thread runs per step. Each step reads the model's weights
/// once for all its frames (and channels), and at full size they do not fit the caches: more
/// frames per step cost less CPU per second of audio, for one more step of latency per frame.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    /// Four frames per step (53 ms of audio for the codec).
    #[id = "standard"]
    #[name = "Standard"]
    Standard,
    /// Eight frames per step: about a fifth less CPU (stereo 48 kHz: 19 % -> 15 % of a core),
    /// 107 ms more latency.
    #[id = "low-cpu"]
    #[name = "Low CPU"]
    LowCpu,
}

impl Latency {
    pub fn frames_per_step(self) -> usize {
        match self {
            Latency::Standard => 4,
            Latency::LowCpu => 8,
        }
    }
}

#[derive(Params)]
pub struct VocosParams {
    /// EnCodec codec or mel vocoder. Changing it changes the latency: the plugin asks the host
    /// to restart it.
    #[id = "model"]
    pub model: EnumParam<ModelKind>,
    #[id = "bandwidth"]
    pub bandwidth: EnumParam<Bandwidth>,
    /// Frames per step; changes the latency, like `model`.
    #[id = "latency"]
    pub latency: EnumParam<Latency>,
    /// Wet share, 0..1.
    #[id = "mix"]
    pub mix: FloatParam,
    /// Output gain in dB.
    #[id = "gain"]
    pub gain: FloatParam,
    /// Folder holding the model weights, chosen by the user; empty when unset.
    #[persist = "model-path"]
    pub model_path: Mutex<String>,
}

/// Parameter smoothing time for mix and gain.
const SMOOTHING_MS: f32 = 20.0;

impl Default for VocosParams {
    fn default() -> Self {
        Self {
            model: EnumParam::new("Model", ModelKind::Codec),
            bandwidth: EnumParam::new("Bandwidth", Bandwidth::Kbps6),
            latency: EnumParam::new("Latency", Latency::Standard),
            mix: FloatParam::new("Mix", 1.0, FloatRange::Linear { min: 0.0, max: 1.0 })
                .with_smoother(SmoothingStyle::Linear(SMOOTHING_MS))
                .with_unit(" %")
                .with_value_to_string(formatters::v2s_f32_percentage(0))
                .with_string_to_value(formatters::s2v_f32_percentage()),
            gain: FloatParam::new(
                "Output Gain",
                0.0,
                FloatRange::Linear {
                    min: -24.0,
                    max: 24.0,
                },
            )
            .with_smoother(SmoothingStyle::Linear(SMOOTHING_MS))
            .with_step_size(0.1)
            .with_unit(" dB"),
            model_path: Mutex::new(String::new()),
        }
    }
}

//! WAV input and output: any rate and channel count in; 24 kHz mono 32-bit float out for the
//! offline commands, the input's rate and channels for `resynth --streaming`.

use std::path::Path;

use vocos_dsp::resample_clip::resample_clip;

use crate::error::{CliError, Result};

/// The rate every model of this tool runs at.
pub const MODEL_RATE: u32 = 24_000;

/// A WAV file downmixed to mono (mean of the channels), at its own sample rate.
pub struct MonoClip {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
}

/// A WAV file's channels at its own sample rate.
pub struct Clip {
    pub channels: Vec<Vec<f32>>,
    pub sample_rate: u32,
}

/// Reads a WAV file and downmixes it to mono (the mean of the channels).
pub fn read_mono(path: &Path) -> Result<MonoClip> {
    let clip = read_clip(path)?;
    let count = clip.channels.len() as f32;
    let len = clip.channels[0].len();
    let samples = (0..len)
        .map(|n| clip.channels.iter().map(|c| c[n]).sum::<f32>() / count)
        .collect();
    Ok(MonoClip {
        samples,
        sample_rate: clip.sample_rate,
    })
}

/// Reads a WAV file (8/16/24/32-bit integer or 32-bit float), one vector per channel.
/// Non-finite samples are rejected with their position rather than passed to the model.
pub fn read_clip(path: &Path) -> Result<Clip> {
    let read_err = |source| CliError::ReadWav {
        path: path.to_owned(),
        source,
    };
    let mut reader = hound::WavReader::open(path).map_err(read_err)?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels);
    if channels == 0 {
        return Err(CliError::BadAudio {
            path: path.to_owned(),
            reason: "WAV has no channels".into(),
        });
    }
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<std::result::Result<_, _>>(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect()
        }
    }
    .map_err(read_err)?;
    if let Some(index) = interleaved.iter().position(|s| !s.is_finite()) {
        return Err(CliError::BadAudio {
            path: path.to_owned(),
            reason: format!(
                "sample {} of channel {} is not finite",
                index / channels,
                index % channels
            ),
        });
    }
    let channels = (0..channels)
        .map(|c| {
            interleaved
                .iter()
                .skip(c)
                .step_by(channels)
                .copied()
                .collect()
        })
        .collect();
    Ok(Clip {
        channels,
        sample_rate: spec.sample_rate,
    })
}

/// Reads a WAV file as mono audio at [`MODEL_RATE`], resampling when needed.
pub fn read_mono_24k(path: &Path) -> Result<Vec<f32>> {
    let clip = read_mono(path)?;
    if clip.samples.is_empty() {
        return Err(CliError::BadAudio {
            path: path.to_owned(),
            reason: "WAV holds no samples".into(),
        });
    }
    Ok(resample_clip(&clip.samples, clip.sample_rate, MODEL_RATE)?)
}

/// Writes mono 32-bit float WAV at [`MODEL_RATE`].
pub fn write_mono_24k(path: &Path, samples: &[f32]) -> Result<()> {
    write_clip(path, &[samples.to_vec()], MODEL_RATE)
}

/// Writes 32-bit float WAV with one channel per vector (all the same length).
pub fn write_clip(path: &Path, channels: &[Vec<f32>], sample_rate: u32) -> Result<()> {
    let write_err = |source| CliError::WriteWav {
        path: path.to_owned(),
        source,
    };
    let spec = hound::WavSpec {
        channels: channels.len() as u16,
        sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(write_err)?;
    for n in 0..channels.first().map_or(0, Vec::len) {
        for channel in channels {
            writer.write_sample(channel[n]).map_err(write_err)?;
        }
    }
    writer.finalize().map_err(write_err)
}

//! The four commands. Each loads its models once, runs the offline pipeline on the whole clip
//! and writes the result; see `main.rs` for their arguments.

use std::path::Path;

use vocos_model::encodec::Encodec;
use vocos_model::vocos::Vocos;

use vocos_plugin::codec_processor::ModelProcessor;
use vocos_plugin::engine::{Engine, EngineSetup};
use vocos_plugin::models::LoadedModel;
use vocos_plugin::params::Latency;

use crate::audio_file::{MODEL_RATE, read_clip, read_mono_24k, write_clip, write_mono_24k};
use crate::codes_file::{CodesArray, read_codes, write_codes};
use crate::error::{CliError, Result};
use crate::progress::{Progress, cost};

fn seconds(samples: usize) -> f64 {
    samples as f64 / f64::from(MODEL_RATE)
}

fn encoder_cost(n_q: usize) -> u64 {
    cost::ENCODER + n_q as u64 * cost::QUANTIZER_PER_CODEBOOK
}

/// A Vocos model of the EnCodec variant; the mel variant cannot decode codes.
fn load_encodec_vocos(path: &Path) -> Result<std::sync::Arc<Vocos>> {
    let vocos = Vocos::load(path)?;
    if vocos.is_mel() {
        return Err(CliError::Usage(format!(
            "{} is the mel variant of Vocos; codes need the EnCodec variant (charactr/vocos-encodec-24khz)",
            path.display()
        )));
    }
    Ok(vocos)
}

pub fn encode(encodec_path: &Path, kbps: f32, input: &Path, output: &Path) -> Result<()> {
    let encodec = Encodec::load(encodec_path)?;
    let n_q = encodec.codebooks_for(kbps)?;
    let audio = read_mono_24k(input)?;
    let progress = Progress::new(seconds(audio.len()), encoder_cost(n_q));
    let codes = progress.stage("encoding", encoder_cost(n_q), || {
        encodec.encode(&audio, kbps)
    })?;
    progress.finish();
    let rows = codes
        .rows
        .iter()
        .map(|row| row.iter().map(|&c| i64::from(c)).collect())
        .collect();
    write_codes(output, &CodesArray { rows })
}

pub fn decode(vocos_path: &Path, kbps: f32, input: &Path, output: &Path) -> Result<()> {
    let vocos = load_encodec_vocos(vocos_path)?;
    let id = vocos.bandwidth_id(kbps)?;
    let n_q = vocos.codebooks_for_id(id)?;
    let codes = read_codes(input)?;
    if codes.rows.len() < n_q {
        return Err(CliError::ReadCodes {
            path: input.to_owned(),
            reason: format!(
                "{kbps} kbps needs {n_q} codebooks, the file has {}",
                codes.rows.len()
            ),
        });
    }
    let rows = codes.rows[..n_q]
        .iter()
        .map(|row| {
            row.iter()
                .map(|&c| u32::try_from(c).map_err(|_| format!("negative or oversized code {c}")))
                .collect::<std::result::Result<Vec<u32>, String>>()
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|reason| CliError::ReadCodes {
            path: input.to_owned(),
            reason,
        })?;
    let samples = rows[0].len() * vocos.config.hop();
    let progress = Progress::new(seconds(samples), cost::VOCOS_ENCODEC);
    let audio = progress.stage("decoding", cost::VOCOS_ENCODEC, || {
        vocos.decode_codes(&rows, id)
    })?;
    progress.finish();
    write_mono_24k(output, &audio)
}

pub fn resynth(
    encodec_path: &Path,
    vocos_path: &Path,
    kbps: f32,
    input: &Path,
    output: &Path,
) -> Result<()> {
    let encodec = Encodec::load(encodec_path)?;
    let vocos = load_encodec_vocos(vocos_path)?;
    let id = vocos.bandwidth_id(kbps)?;
    let n_q = encodec.codebooks_for(kbps)?;
    let audio = read_mono_24k(input)?;
    let progress = Progress::new(
        seconds(audio.len()),
        encoder_cost(n_q) + cost::VOCOS_ENCODEC,
    );
    let codes = progress.stage("encoding", encoder_cost(n_q), || {
        encodec.encode(&audio, kbps)
    })?;
    let out = progress.stage("decoding", cost::VOCOS_ENCODEC, || {
        vocos.decode_codes(&codes.rows, id)
    })?;
    progress.finish();
    write_mono_24k(output, &out)
}

/// `resynth --streaming`: the plugin's engine (streaming model, resampling to and from the
/// file's rate, mono or stereo) rendering offline; the output is trimmed by the latency, as a
/// DAW's latency-compensated bounce would be.
pub fn resynth_streaming(
    encodec_path: &Path,
    vocos_path: &Path,
    kbps: f32,
    input: &Path,
    output: &Path,
) -> Result<()> {
    /// Block size of the render.
    const BLOCK: usize = 4096;
    let encodec = Encodec::load(encodec_path)?;
    let vocos = load_encodec_vocos(vocos_path)?;
    let id = vocos.bandwidth_id(kbps)?;
    let clip = read_clip(input)?;
    let channels = clip.channels.len();
    if channels > 2 {
        return Err(CliError::Usage(format!(
            "--streaming takes mono or stereo, {} has {channels} channels",
            input.display()
        )));
    }
    let len = clip.channels[0].len();
    let model = LoadedModel::Codec { encodec, vocos };
    let processor = ModelProcessor::new(&model, channels, id, Latency::Standard.frames_per_step())?;
    let setup = EngineSetup {
        host_rate: clip.sample_rate,
        channels,
        max_block: BLOCK,
        detect_fast_host: false,
    };
    let mut engine = Engine::start(setup, Box::new(processor))
        .map_err(|e| CliError::Usage(format!("cannot stream at {} Hz: {e}", clip.sample_rate)))?;
    let latency = engine.latency();
    let mut audio = clip.channels;
    audio.iter_mut().for_each(|c| c.resize(len + latency, 0.0));
    let progress = Progress::new(
        seconds(len) * f64::from(MODEL_RATE) / f64::from(clip.sample_rate),
        cost::STREAMING,
    );
    progress.stage("streaming", cost::STREAMING, || {
        for start in (0..len + latency).step_by(BLOCK) {
            let end = (start + BLOCK).min(len + latency);
            let mut blocks: Vec<&mut [f32]> =
                audio.iter_mut().map(|c| &mut c[start..end]).collect();
            engine.process(&mut blocks, true, || (1.0, 1.0));
        }
    });
    progress.finish();
    if engine.underruns() > 0 {
        return Err(CliError::Usage(format!(
            "the inference thread did not answer for {} blocks",
            engine.underruns()
        )));
    }
    let trimmed: Vec<Vec<f32>> = audio.iter().map(|c| c[latency..].to_vec()).collect();
    write_clip(output, &trimmed, clip.sample_rate)
}

pub fn mel(vocos_path: &Path, input: &Path, output: &Path) -> Result<()> {
    let vocos = Vocos::load(vocos_path)?;
    if !vocos.is_mel() {
        return Err(CliError::Usage(format!(
            "{} is the EnCodec variant of Vocos; `mel` needs the mel variant (charactr/vocos-mel-24khz)",
            vocos_path.display()
        )));
    }
    let audio = read_mono_24k(input)?;
    let progress = Progress::new(seconds(audio.len()), cost::LIGHT + cost::VOCOS_MEL);
    let mel = progress.stage("mel analysis", cost::LIGHT, || vocos.mel_features(&audio))?;
    let out = progress.stage("decoding", cost::VOCOS_MEL, || vocos.decode(&mel, None))?;
    progress.finish();
    write_mono_24k(output, &out)
}

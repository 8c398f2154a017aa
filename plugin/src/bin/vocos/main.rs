//! `vocos`: offline EnCodec encoding, Vocos decoding and resynthesis of audio files, and getting
//! the models (`vocos models`).
//!
//! Every audio command reads WAV at any rate and channel count (downmixed to mono, resampled to
//! 24 kHz) and writes 32-bit float WAV at 24 kHz. Errors print as one line and exit non-zero.

mod audio_file;
mod codes_file;
mod commands;
mod error;
mod models;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use vocos_plugin::models::ModelKind;

/// EnCodec 24 kHz -> residual vector quantization -> Vocos, on files.
///
/// MODEL paths are a checkpoint file or a directory as downloaded from the hub:
/// facebook/encodec_24khz (`encodec_24khz-d7cc33bc.th`, or `config.json` + `model.safetensors`),
/// charactr/vocos-encodec-24khz and charactr/vocos-mel-24khz (`config.yaml` + `pytorch_model.bin`).
#[derive(Parser)]
#[command(name = "vocos", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Encode audio to EnCodec codes, saved as an int64 .npy array of shape (n_q, T).
    ///
    /// Equals `EncodecModel.encode` of the reference implementation for 24 kHz input. The
    /// codes of a lower bandwidth are the first rows of the codes of a higher one.
    Encode {
        /// EnCodec checkpoint file or directory.
        #[arg(long, value_name = "PATH")]
        encodec: PathBuf,
        /// Target bandwidth in kbps: 1.5, 3, 6, 12 or 24 (2, 4, 8, 16 or 32 codebooks).
        #[arg(long, value_name = "KBPS", default_value = "24")]
        bandwidth: f32,
        /// Input WAV.
        input: PathBuf,
        /// Output .npy.
        output: PathBuf,
    },
    /// Decode EnCodec codes (.npy, shape (n_q, T) or (n_q, 1, T), e.g. Bark's fine tokens) to audio with Vocos.
    ///
    /// Uses the first n_q codebooks of the bandwidth (1.5/3/6/12 kbps -> 2/4/8/16), so codes
    /// encoded at a higher bandwidth decode at any lower one.
    Decode {
        /// Vocos EnCodec-variant checkpoint directory (or file next to its config.yaml).
        #[arg(long, value_name = "PATH")]
        vocos: PathBuf,
        /// Bandwidth in kbps: 1.5, 3, 6 or 12.
        #[arg(long, value_name = "KBPS")]
        bandwidth: f32,
        /// Input .npy codes.
        input: PathBuf,
        /// Output WAV (32-bit float, 24 kHz).
        output: PathBuf,
    },
    /// Resynthesise audio: EnCodec encode -> codes at the bandwidth -> Vocos decode.
    ///
    /// For 24 kHz input this equals the reference `Vocos.forward(audio, bandwidth_id)`.
    Resynth {
        /// EnCodec checkpoint file or directory.
        #[arg(long, value_name = "PATH")]
        encodec: PathBuf,
        /// Vocos EnCodec-variant checkpoint directory.
        #[arg(long, value_name = "PATH")]
        vocos: PathBuf,
        /// Bandwidth in kbps: 1.5, 3, 6 or 12.
        #[arg(long, value_name = "KBPS")]
        bandwidth: f32,
        /// Run the plugin's real-time engine instead (streaming model, mono or stereo kept,
        /// resampled to and from the file's rate): the output equals the plugin's
        /// latency-compensated bounce of the file, at the file's rate.
        #[arg(long)]
        streaming: bool,
        /// Input WAV.
        input: PathBuf,
        /// Output WAV (32-bit float; 24 kHz mono, or the input's rate and channels with
        /// --streaming).
        output: PathBuf,
    },
    /// Analysis-resynthesis with the Vocos mel variant: audio -> log-mel -> Vocos -> audio.
    Mel {
        /// Vocos mel-variant checkpoint directory.
        #[arg(long, value_name = "PATH")]
        vocos: PathBuf,
        /// Input WAV.
        input: PathBuf,
        /// Output WAV (32-bit float, 24 kHz).
        output: PathBuf,
    },
    /// The model folder: what it holds, and getting the official files from the Hugging Face Hub.
    #[command(subcommand)]
    Models(ModelsCommand),
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Where the plugin looks for models, and what each model folder holds: sizes, and whether
    /// each file is verified against the record of its download.
    List {
        /// Model folder to list (default: where the plugin looks, $VOCOS_MODEL_DIR, else the
        /// user data folder).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Download facebook/encodec_24khz, charactr/vocos-encodec-24khz and
    /// charactr/vocos-mel-24khz at pinned commits into the model folder.
    ///
    /// Honours HF_ENDPOINT, HF_TOKEN and reuses files of the huggingface_hub cache (HF_HOME,
    /// HF_HUB_CACHE). Every file is checked against the Hub's hash before it gets its name; a
    /// second run resumes partial downloads and skips complete files.
    Download {
        /// Model folder (default: where the plugin looks, $VOCOS_MODEL_DIR, else the user data
        /// folder).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Only the models one variant needs.
        #[arg(long)]
        only: Option<Only>,
        /// No progress bars or messages; errors only.
        #[arg(long, short)]
        quiet: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Only {
    /// EnCodec and Vocos for EnCodec codes (the plugin's EnCodec codec model).
    Codec,
    /// Vocos for mel spectrograms (the plugin's Mel vocoder model).
    Mel,
}

impl From<Only> for ModelKind {
    fn from(only: Only) -> Self {
        match only {
            Only::Codec => Self::Codec,
            Only::Mel => Self::Mel,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Encode {
            encodec,
            bandwidth,
            input,
            output,
        } => commands::encode(&encodec, bandwidth, &input, &output),
        Command::Decode {
            vocos,
            bandwidth,
            input,
            output,
        } => commands::decode(&vocos, bandwidth, &input, &output),
        Command::Resynth {
            encodec,
            vocos,
            bandwidth,
            streaming: false,
            input,
            output,
        } => commands::resynth(&encodec, &vocos, bandwidth, &input, &output),
        Command::Resynth {
            encodec,
            vocos,
            bandwidth,
            streaming: true,
            input,
            output,
        } => commands::resynth_streaming(&encodec, &vocos, bandwidth, &input, &output),
        Command::Mel {
            vocos,
            input,
            output,
        } => commands::mel(&vocos, &input, &output),
        Command::Models(ModelsCommand::List { dir }) => models::list(dir),
        Command::Models(ModelsCommand::Download { dir, only, quiet }) => {
            models::download(dir, only.map(ModelKind::from), quiet)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vocos: error: {e}");
            ExitCode::FAILURE
        }
    }
}

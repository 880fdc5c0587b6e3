//! Argument parsing and dispatch; one file per command.

mod bench;
mod common;
mod ensemble;
mod evaluate;
mod interrupt;
mod predict;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use digit_lab::evaluation::predict::Tta;
use digit_lab::model_file::ModelMeta;

#[derive(Parser)]
#[command(
    name = "digit-lab",
    version,
    about = "Train, evaluate and use CNNs on Kaggle's Digit Recognizer data"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    /// Burn's pure-Rust CPU backend (flex).
    Cpu,
    /// The GPU through wgpu (Vulkan, Metal or DX12).
    Gpu,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OptimizerArg {
    Rmsprop,
    Adam,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScheduleArg {
    /// Warm up, then anneal over the planned run (Digit Lab's default).
    OneCycle,
    /// Change the rate only between epochs (decay, plateau), as the notebooks do.
    Stepwise,
}

/// Test-time augmentation, shared by `evaluate` and `predict`.
#[derive(Args, Clone, Copy, Debug)]
pub struct TtaArgs {
    /// Average each image's probabilities with those of a few fixed variants of it: the ones
    /// the model's validation chose (recorded by `train`, `ensemble --train` or `evaluate
    /// --record-tta`; 1-pixel shifts for a file without a choice), unless the two options below
    /// say otherwise.
    #[arg(long)]
    tta: bool,
    /// TTA: shift by this many pixels left, right, up and down (0 = no shifted variants).
    #[arg(long, requires = "tta")]
    tta_shift: Option<f32>,
    /// TTA: rotate by ± this many degrees (0 = no rotated variants).
    #[arg(long, requires = "tta")]
    tta_rotation: Option<f32>,
}

impl TtaArgs {
    /// The TTA asked for with the model `files` given (for a plain `--tta`, one file's
    /// recorded choice; several files share none, so they get the default), or why the numbers
    /// cannot be used. `None`: plain predictions.
    pub fn tta(&self, files: &[ModelMeta]) -> Result<Option<Tta>, String> {
        if !self.tta {
            return Ok(None);
        }
        if self.tta_shift.is_none() && self.tta_rotation.is_none() {
            return Ok(match files {
                [file] => file.prediction_tta(),
                _ => Some(Tta::default()),
            });
        }
        let default = Tta::default();
        let shift_pixels = self.tta_shift.unwrap_or(default.shift_pixels);
        let rotation_degrees = self.tta_rotation.unwrap_or(default.rotation_degrees);
        if !(0.0..=14.0).contains(&shift_pixels) {
            return Err(format!(
                "--tta-shift {shift_pixels}: must be between 0 and 14 pixels (half the image)"
            ));
        }
        if !(0.0..180.0).contains(&rotation_degrees) {
            return Err(format!(
                "--tta-rotation {rotation_degrees}: must be at least 0 and under 180 degrees"
            ));
        }
        Ok(Some(Tta {
            shift_pixels,
            rotation_degrees,
        }))
    }

    pub fn requested(&self) -> bool {
        self.tta
    }
}

/// How the TTA used reads in the CLI's output, e.g. " (TTA: 1 px shifts, validation's choice)".
pub fn describe_tta_use(args: &TtaArgs, files: &[ModelMeta], tta: Option<&Tta>) -> String {
    if !args.requested() {
        return String::new();
    }
    let why = match (files, args.tta_shift.or(args.tta_rotation)) {
        (_, Some(_)) => "as asked",
        ([file], None) if file.tta.is_some() => "validation's choice",
        ([_], None) => "the default: no choice recorded",
        _ => "the default: several files share no recorded choice",
    };
    match tta {
        Some(t) => format!(" (TTA: {}, {why})", t.describe()),
        None => format!(" (no TTA: {why})"),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Validate a train.csv or test.csv (plain or .gz): print a summary, or the error.
    Check { file: PathBuf },
    /// Train a model and save the best checkpoint.
    Train(train::TrainArgs),
    /// Predict test.csv and write Kaggle's submission.csv.
    Predict(predict::PredictArgs),
    /// Validation metrics, confusion matrix and classification report of a model.
    Evaluate(evaluate::EvaluateArgs),
    /// Combine model files into one ensemble file (and measure it with --train).
    Ensemble(ensemble::EnsembleArgs),
    /// Measure CSV parsing and training/inference speed.
    Bench(bench::BenchArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { file } => common::check(&file),
        Command::Train(args) => train::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::Ensemble(args) => ensemble::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

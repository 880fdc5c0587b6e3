//! Argument parsing and dispatch; one file per command.

mod bench;
mod common;
mod evaluate;
mod interrupt;
mod predict;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

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

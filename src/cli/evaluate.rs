//! `digit-lab evaluate`: the validation metrics of a model on the split it was trained with.

use std::path::PathBuf;

use clap::Args;
use digit_lab::data::csv::CsvKind;
use digit_lab::evaluation::metrics::{loss_and_accuracy, top_errors};
use digit_lab::evaluation::predict::{Tta, argmax_rows};
use digit_lab::training::config::TrainConfig;

use super::DeviceArg;
use super::common::{compute_device, load_digits, load_model, predict_rows, print_evaluation};

#[derive(Args)]
pub struct EvaluateArgs {
    /// A model file from `digit-lab train` (default: the bundled model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// The labelled train.csv; the validation rows are re-derived from the model's seed and
    /// validation fraction, so they are the rows it never trained on.
    #[arg(long)]
    train: PathBuf,
    #[arg(long)]
    tta: bool,
    /// How many of the most confident mistakes to list.
    #[arg(long, default_value_t = 12)]
    errors: usize,
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
}

pub fn run(args: EvaluateArgs) -> Result<(), String> {
    let device = compute_device(args.device)?;
    let (model, meta) = load_model(args.model.as_deref(), &device)?;
    let digits = load_digits(&args.train, CsvKind::Train)?;
    let config = meta
        .training
        .as_ref()
        .map_or_else(TrainConfig::default, |t| t.config.clone());
    let split = meta.validation_split(&digits);
    if split.validation.is_empty() {
        return Err("the model was trained without a validation split; nothing to evaluate".into());
    }
    let tta = args.tta.then(Tta::default);
    let (probabilities, truth) =
        predict_rows(&model, &digits, &split.validation, &device, tta.as_ref())?;
    let (loss, accuracy) = loss_and_accuracy(&probabilities, &truth);
    println!(
        "{} validation rows (seed {}, fraction {}): loss {loss:.4}, accuracy {accuracy:.4}{}",
        split.validation.len(),
        config.seed,
        config.validation_fraction,
        if args.tta { " (TTA)" } else { "" }
    );
    println!();
    print_evaluation(&truth, &argmax_rows(&probabilities));
    let errors = top_errors(&probabilities, &truth, args.errors);
    if !errors.is_empty() {
        println!(
            "\nmost confident mistakes (train.csv line: true -> predicted, P(pred) - P(true)):"
        );
        for e in errors {
            println!(
                "  line {:>5}: {} -> {}  {:.3} - {:.3} = {:.3}",
                split.validation[e.position] + 2, // 1-based file line, after the header
                e.truth,
                e.predicted,
                e.predicted_probability,
                e.truth_probability,
                e.error_margin()
            );
        }
    }
    Ok(())
}

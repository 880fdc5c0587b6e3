//! `digit-lab evaluate`: the validation metrics of a model on the split it was trained with.

use std::path::PathBuf;

use clap::Args;
use digit_lab::data::csv::CsvKind;
use digit_lab::evaluation::metrics::{loss_and_accuracy, top_errors};
use digit_lab::evaluation::predict::{Tta, argmax_rows};
use digit_lab::model::DigitNet;
use digit_lab::training::config::TrainConfig;

use super::common::{
    choose_tta_on, compute_device, load_digits, load_models, mean_of_members, print_evaluation,
    record_tta_choice,
};
use super::{DeviceArg, TtaArgs, describe_tta_use};

#[derive(Args)]
pub struct EvaluateArgs {
    /// A model file from `digit-lab train` (default: the bundled model). Repeat it to evaluate
    /// an ensemble (the mean of the members' probabilities); the members must have been trained
    /// with the same validation split.
    #[arg(long)]
    model: Vec<PathBuf>,
    /// The labelled train.csv; the validation rows are re-derived from the model's seed and
    /// validation fraction, so they are the rows it never trained on.
    #[arg(long)]
    train: PathBuf,
    #[command(flatten)]
    tta: TtaArgs,
    /// Measure which TTA helps on the validation rows (1-pixel shifts, ±5° rotations, both, or
    /// none) and print the choice.
    #[arg(long)]
    choose_tta: bool,
    /// Record that choice in the model file (one file, rewritten in place), so that `--tta`
    /// and the page's TTA switch use it.
    #[arg(long, requires = "choose_tta")]
    record_tta: bool,
    /// How many of the most confident mistakes to list.
    #[arg(long, default_value_t = 12)]
    errors: usize,
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
}

pub fn run(args: EvaluateArgs) -> Result<(), String> {
    if args.record_tta && args.model.len() != 1 {
        return Err("--record-tta rewrites one model file: give exactly one --model".into());
    }
    let device = compute_device(args.device)?;
    let (loaded, files) = load_models(&args.model, &device)?;
    let tta = args.tta.tta(&files)?;
    let digits = load_digits(&args.train, CsvKind::Train)?;
    let meta = &loaded[0].2;
    let config = meta
        .training
        .as_ref()
        .map_or_else(TrainConfig::default, |t| t.config.clone());
    let split = meta.validation_split(&digits);
    if split.validation.is_empty() {
        return Err("the model was trained without a validation split; nothing to evaluate".into());
    }
    for (name, _, other) in &loaded[1..] {
        if other.validation_split(&digits).validation != split.validation {
            return Err(format!(
                "{name} was validated on other rows than {} (another seed, validation fraction \
                 or row count): an ensemble is only judged fairly on rows none of its members \
                 trained on. Train the members with the same --seed and --validation-fraction and \
                 a different --member each, or evaluate them separately.",
                loaded[0].0
            ));
        }
    }
    // Each member is predicted once; the ensemble is the mean of those probabilities (what
    // `predict_ensemble` computes on the device), so members and ensemble cost one pass each.
    let count = loaded.len();
    let members: Vec<(String, &DigitNet)> = loaded
        .iter()
        .map(|(name, model, _)| (name.clone(), model))
        .collect();
    let mean_of_members = |tta: Option<&Tta>, report: bool| {
        let rows = &split.validation;
        mean_of_members(&members, &digits, rows, &device, tta, report && count > 1)
            .map(|(mean, truth, _)| (mean, truth))
    };
    let (probabilities, truth) = mean_of_members(tta.as_ref(), true)?;
    let (loss, accuracy) = loss_and_accuracy(&probabilities, &truth);
    println!(
        "{} validation rows (seed {}, fraction {}): {}loss {loss:.4}, accuracy {accuracy:.4}{}",
        split.validation.len(),
        config.seed,
        config.validation_fraction,
        if count > 1 {
            format!("ensemble of {count} members, ")
        } else {
            String::new()
        },
        describe_tta_use(&args.tta, &files, tta.as_ref())
    );
    if tta.is_some() {
        // Whether TTA helps differs from model to model (README.md, "Recipe"): show both.
        let (plain, _) = mean_of_members(None, false)?;
        let (plain_loss, plain_accuracy) = loss_and_accuracy(&plain, &truth);
        let digits_changed = argmax_rows(&plain)
            .iter()
            .zip(argmax_rows(&probabilities))
            .zip(&truth)
            .map(|((&before, after), &label)| (after == label) as i64 - (before == label) as i64)
            .sum::<i64>();
        println!(
            "without TTA: loss {plain_loss:.4}, accuracy {plain_accuracy:.4} (TTA {} {} \
             validation digits)",
            if digits_changed >= 0 {
                "gains"
            } else {
                "loses"
            },
            digits_changed.abs()
        );
    }
    if args.record_tta {
        let path = &args.model[0];
        let choice = record_tta_choice(path, &digits, &device)?;
        println!("TTA chosen on validation: {}", choice.describe());
        println!("recorded in {}", path.display());
    } else if args.choose_tta {
        let nets: Vec<DigitNet> = loaded.iter().map(|(_, net, _)| net.clone()).collect();
        let choice = choose_tta_on(&nets, &digits, &split.validation, &device)?;
        println!("TTA chosen on validation: {}", choice.describe());
    }
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

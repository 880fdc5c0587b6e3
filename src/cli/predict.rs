//! `digit-lab predict`: label test.csv and write Kaggle's submission.csv.

use std::path::PathBuf;

use clap::Args;
use digit_lab::data::csv::CsvKind;
use digit_lab::evaluation::predict::{Tta, argmax_rows, predict_probabilities};
use digit_lab::submission::submission_csv;

use super::DeviceArg;
use super::common::{bar, compute_device, load_digits, load_model, write_atomically};

#[derive(Args)]
pub struct PredictArgs {
    /// A model file from `digit-lab train` (default: the bundled model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Kaggle test.csv (or .csv.gz).
    #[arg(long)]
    test: PathBuf,
    #[arg(long, default_value = "submission.csv")]
    out: PathBuf,
    /// Test-time augmentation: average over the image and 4 slightly transformed copies.
    #[arg(long)]
    tta: bool,
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
}

pub fn run(args: PredictArgs) -> Result<(), String> {
    let device = compute_device(args.device)?;
    let (model, _meta) = load_model(args.model.as_deref(), &device)?;
    let digits = load_digits(&args.test, CsvKind::Test)?;
    let rows: Vec<usize> = (0..digits.len()).collect();
    let progress = bar(
        rows.len() as u64,
        "predicting [{bar:30}] {pos}/{len} images",
    );
    let tta = args.tta.then(Tta::default);
    let probabilities = pollster::block_on(predict_probabilities(
        &model,
        &digits,
        &rows,
        &device.device,
        500,
        tta.as_ref(),
        &mut |done, _| progress.set_position(done as u64),
    ))
    .map_err(|e| e.to_string())?;
    progress.finish_and_clear();
    let labels = argmax_rows(&probabilities);
    write_atomically(&args.out, submission_csv(&labels).as_bytes())?;
    println!(
        "wrote {} ({} predictions{})",
        args.out.display(),
        labels.len(),
        if args.tta { ", with TTA" } else { "" }
    );
    Ok(())
}

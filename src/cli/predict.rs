//! `digit-lab predict`: label test.csv and write Kaggle's submission.csv.

use std::path::PathBuf;

use clap::Args;
use digit_lab::data::csv::CsvKind;
use digit_lab::evaluation::predict::{argmax_rows, predict_ensemble};
use digit_lab::submission::submission_csv;

use super::common::{bar, compute_device, load_digits, load_models, write_atomically};
use super::{DeviceArg, TtaArgs, describe_tta_use};

#[derive(Args)]
pub struct PredictArgs {
    /// A model file from `digit-lab train` (default: the bundled model). Repeat it to predict
    /// with an ensemble (the mean of the members' probabilities).
    #[arg(long)]
    model: Vec<PathBuf>,
    /// Kaggle test.csv (or .csv.gz).
    #[arg(long)]
    test: PathBuf,
    #[arg(long, default_value = "submission.csv")]
    out: PathBuf,
    #[command(flatten)]
    tta: TtaArgs,
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
}

pub fn run(args: PredictArgs) -> Result<(), String> {
    let device = compute_device(args.device)?;
    let (loaded, files) = load_models(&args.model, &device)?;
    let tta = args.tta.tta(&files)?;
    let members: Vec<_> = loaded.into_iter().map(|(_, model, _)| model).collect();
    let digits = load_digits(&args.test, CsvKind::Test)?;
    let rows: Vec<usize> = (0..digits.len()).collect();
    let progress = bar(
        rows.len() as u64,
        "predicting [{bar:30}] {pos}/{len} images",
    );
    let probabilities = pollster::block_on(predict_ensemble(
        &members,
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
        "wrote {} ({} predictions, {} model{}{})",
        args.out.display(),
        labels.len(),
        members.len(),
        if members.len() == 1 { "" } else { "s" },
        describe_tta_use(&args.tta, &files, tta.as_ref())
    );
    Ok(())
}

//! `digit-lab ensemble`: combine model files into one ensemble file (one download, predicted as
//! the mean of its members' probabilities) and measure it against its members.

use std::path::PathBuf;

use clap::Args;
use digit_lab::data::csv::CsvKind;
use digit_lab::evaluation::metrics::loss_and_accuracy;
use digit_lab::model::DigitNet;
use digit_lab::model_file::{self, ModelMeta};

use super::DeviceArg;
use super::common::{
    choose_tta_on, compute_device, load_digits, mean_of_members, read_file, write_atomically,
};

#[derive(Args)]
pub struct EnsembleArgs {
    /// A model file to include; repeat it (2 to 8 members in all; an ensemble file counts as
    /// its members). Train the members with the same --seed and --validation-fraction and a
    /// different --member each.
    #[arg(long, required = true)]
    model: Vec<PathBuf>,
    /// train.csv: measure the ensemble and each member on the members' validation split, and
    /// record the ensemble's figures in the file (what the app's model library shows).
    #[arg(long)]
    train: Option<PathBuf>,
    /// The ensemble file to write.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
}

fn describe(meta: &ModelMeta) -> String {
    let preset = meta.preset.map_or("custom".into(), |p| p.to_string());
    match &meta.training {
        Some(t) => format!(
            "{preset}, seed {} member {}, {} epochs, recorded validation accuracy {}",
            t.config.seed,
            t.config.member,
            t.epochs_run,
            t.val_accuracy.map_or("-".into(), |a| format!("{a:.4}"))
        ),
        None => format!("{preset}, no training record"),
    }
}

pub fn run(args: EnsembleArgs) -> Result<(), String> {
    let device = compute_device(args.device)?;
    let files = args
        .model
        .iter()
        .map(|path| Ok((path.display().to_string(), read_file(path)?)))
        .collect::<Result<Vec<_>, String>>()?;
    let parts: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), &b[..])).collect();
    let mut bytes = model_file::combine(&parts).map_err(|e| e.to_string())?;
    let out_name = args.out.display().to_string();
    let (nets, meta) =
        model_file::from_bytes(&out_name, &bytes, &device.device).map_err(|e| e.to_string())?;
    println!("ensemble of {} members:", nets.len());
    for (k, member) in meta.members().iter().enumerate() {
        println!("  member {}: {}", k + 1, describe(member));
    }
    if let Some(train) = &args.train {
        let digits = load_digits(train, CsvKind::Train)?;
        let rows = meta.validation_split(&digits).validation;
        if rows.is_empty() {
            return Err(
                "the members were trained without a validation split: nothing to \
                        measure; leave out --train"
                    .into(),
            );
        }
        let members: Vec<(String, &DigitNet)> = (nets.iter().enumerate())
            .map(|(k, net)| ((k + 1).to_string(), net))
            .collect();
        let (mean, truth, best_member) =
            mean_of_members(&members, &digits, &rows, &device, None, true)?;
        let (loss, accuracy) = loss_and_accuracy(&mean, &truth);
        let gained = ((accuracy - best_member) * rows.len() as f64).round();
        println!(
            "ensemble on {} validation rows: loss {loss:.4}, accuracy {accuracy:.4} ({gained:+} \
             digits against its best member)",
            rows.len()
        );
        bytes = model_file::with_figures(&out_name, &bytes, accuracy, loss)
            .map_err(|e| e.to_string())?;
        let choice = choose_tta_on(&nets, &digits, &rows, &device)?;
        println!("TTA chosen on validation: {}", choice.describe());
        bytes =
            model_file::with_tta_choice(&out_name, &bytes, choice).map_err(|e| e.to_string())?;
    }
    write_atomically(&args.out, &bytes)?;
    println!("wrote {} ({} bytes)", args.out.display(), bytes.len());
    Ok(())
}

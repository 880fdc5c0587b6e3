//! Pieces every command shares: reading CSVs with a progress bar, choosing the device, loading
//! models, printing metrics.

use std::path::Path;
use std::time::Instant;

use digit_lab::data::csv::{CsvKind, ParsedCsv, Phase, parse_csv};
use digit_lab::data::dataset::Digits;
use digit_lab::device::{self, ComputeDevice};
use digit_lab::evaluation::metrics::{ClassReport, ConfusionMatrix, loss_and_accuracy};
use digit_lab::evaluation::predict::{Tta, predict_probabilities};
use digit_lab::evaluation::tta::{TtaChoice, choose_tta};
use digit_lab::model::DigitNet;
use digit_lab::model_file::{self, ModelMeta};
use digit_lab::training::EVAL_BATCH_SIZE;
use indicatif::{ProgressBar, ProgressStyle};

use super::DeviceArg;

pub fn bar(total: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// Write a file so that it is either all there or not changed at all: the bytes go to a
/// temporary file beside it, are synced to disk, and the temporary file is renamed over the
/// destination (an interrupted write, a kill or a full disk leave the old file intact).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let failed = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let temporary = dir.join(format!(
        ".{}.{}.partial",
        file_name(path),
        std::process::id()
    ));
    let written = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        // The rename itself is durable once the directory is synced (not possible everywhere).
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written.map_err(failed)
}

pub fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Parse a Kaggle CSV with a progress bar; the error names file, line and column.
pub fn load_csv(path: &Path, expected: Option<CsvKind>) -> Result<ParsedCsv, String> {
    let bytes = read_file(path)?;
    let progress = bar(
        bytes.len() as u64,
        "{msg:>14} [{bar:30}] {bytes}/{total_bytes}",
    );
    let mut phase = None;
    let parsed = parse_csv(&file_name(path), &bytes, expected, &mut |p| {
        if phase != Some(p.phase) {
            phase = Some(p.phase);
            progress.set_length(p.total as u64);
            progress.set_message(match p.phase {
                Phase::Decompressing => "decompressing",
                Phase::Parsing => "parsing",
            });
        }
        progress.set_position(p.done as u64);
    });
    progress.finish_and_clear();
    parsed.map_err(|e| e.to_string())
}

pub fn load_digits(path: &Path, kind: CsvKind) -> Result<Digits, String> {
    Ok(Digits::from_csv(load_csv(path, Some(kind))?))
}

pub fn check(path: &Path) -> Result<(), String> {
    let started = Instant::now();
    let parsed = load_csv(path, None)?;
    let seconds = started.elapsed().as_secs_f64();
    let kind = match parsed.kind {
        CsvKind::Train => "train.csv (labelled)",
        CsvKind::Test => "test.csv (unlabelled)",
    };
    println!(
        "{}: valid {kind}, {} rows of 28x28 pixels (read in {seconds:.2} s)",
        path.display(),
        parsed.rows
    );
    if parsed.kind == CsvKind::Train {
        let digits = Digits::from_csv(parsed);
        let counts = digits.label_counts();
        println!("label counts:");
        for (label, count) in counts.iter().enumerate() {
            println!("  {label}: {count:>6}");
        }
    }
    Ok(())
}

pub fn compute_device(arg: DeviceArg) -> Result<ComputeDevice, String> {
    match arg {
        DeviceArg::Cpu => Ok(device::cpu()),
        DeviceArg::Gpu => pollster::block_on(device::gpu())
            .map_err(|e| format!("{e}. Use --device cpu to run on the CPU instead.")),
    }
}

/// The model the web page ships (trained with the default recipe on the full train.csv; see
/// README.md), used when no `--model` is given.
const BUNDLED_MODEL: &[u8] = include_bytes!("../../assets/model.bpk");

/// A model file (each member of an ensemble), or the bundled model when `path` is `None`.
pub fn load_model(
    path: Option<&Path>,
    device: &ComputeDevice,
) -> Result<(Vec<DigitNet>, ModelMeta), String> {
    let (name, bytes) = match path {
        Some(path) => (file_name(path), read_file(path)?),
        None => ("the bundled model".to_string(), BUNDLED_MODEL.to_vec()),
    };
    model_file::from_bytes(&name, &bytes, &device.device).map_err(|e| e.to_string())
}

/// One model as loaded: the name to report it by, its network and its own metadata.
pub type NamedModel = (String, DigitNet, ModelMeta);

/// Every model given (the bundled model when none is), an ensemble file as its members, with
/// the names to report them by; and each file's own metadata.
pub fn load_models(
    paths: &[std::path::PathBuf],
    device: &ComputeDevice,
) -> Result<(Vec<NamedModel>, Vec<ModelMeta>), String> {
    let files: Vec<Option<&Path>> = if paths.is_empty() {
        vec![None]
    } else {
        paths.iter().map(|p| Some(p.as_path())).collect()
    };
    let mut members = Vec::new();
    let mut metas = Vec::new();
    for path in files {
        let name = path.map_or("the bundled model".into(), |p| p.display().to_string());
        let (nets, meta) = load_model(path, device)?;
        metas.push(meta.clone());
        let count = nets.len();
        for (k, (net, member)) in nets.into_iter().zip(meta.members()).enumerate() {
            let name = match count {
                1 => name.clone(),
                _ => format!("{name} (member {} of {count})", k + 1),
            };
            members.push((name, net, member));
        }
    }
    Ok((members, metas))
}

/// Probabilities of a model for some rows of a labelled set, and the rows' true labels.
pub fn predict_rows(
    model: &DigitNet,
    digits: &Digits,
    rows: &[usize],
    device: &ComputeDevice,
    tta: Option<&Tta>,
) -> Result<(Vec<f32>, Vec<u8>), String> {
    let probabilities = pollster::block_on(predict_probabilities(
        model,
        digits,
        rows,
        &device.device,
        EVAL_BATCH_SIZE,
        tta,
        &mut |_, _| {},
    ))
    .map_err(|e| e.to_string())?;
    let truth = rows.iter().map(|&r| digits.label(r).unwrap_or(0)).collect();
    Ok((probabilities, truth))
}

/// An ensemble's probabilities for some rows of a labelled set: each member predicted once
/// (with `report`, its loss and accuracy printed as `member NAME: …`), then their mean (what
/// `predict_ensemble` computes on the device). Also the rows' true labels and the best member's
/// accuracy.
pub fn mean_of_members(
    members: &[(String, &DigitNet)],
    digits: &Digits,
    rows: &[usize],
    device: &ComputeDevice,
    tta: Option<&Tta>,
    report: bool,
) -> Result<(Vec<f32>, Vec<u8>, f64), String> {
    let mut mean = vec![0.0f32; rows.len() * digit_lab::model::NUM_CLASSES];
    let mut truth = Vec::new();
    let mut best_member = 0.0f64;
    for (name, model) in members {
        let (probabilities, labels) = predict_rows(model, digits, rows, device, tta)?;
        let (loss, accuracy) = loss_and_accuracy(&probabilities, &labels);
        if report {
            println!("member {name}: loss {loss:.4}, accuracy {accuracy:.4}");
        }
        best_member = best_member.max(accuracy);
        for (sum, p) in mean.iter_mut().zip(probabilities) {
            *sum += p / members.len() as f32;
        }
        truth = labels;
    }
    Ok((mean, truth, best_member))
}

/// Which TTA validation chooses for `nets` (one model, or an ensemble's members) on labelled
/// `rows`, with a progress bar.
pub fn choose_tta_on(
    nets: &[DigitNet],
    digits: &Digits,
    rows: &[usize],
    device: &ComputeDevice,
) -> Result<TtaChoice, String> {
    let progress = bar(rows.len() as u64, "choosing TTA [{bar:30}] {pos}/{len}");
    let choice = pollster::block_on(choose_tta(
        nets,
        digits,
        rows,
        &device.device,
        EVAL_BATCH_SIZE,
        &mut |done, _| progress.set_position(done as u64),
    ))
    .map_err(|e| e.to_string())?;
    progress.finish_and_clear();
    Ok(choice)
}

/// The model file at `path` with the TTA its validation rows choose recorded in it (rewritten
/// atomically); returns the choice.
pub fn record_tta_choice(
    path: &Path,
    digits: &Digits,
    device: &ComputeDevice,
) -> Result<TtaChoice, String> {
    let name = path.display().to_string();
    let bytes = read_file(path)?;
    let (nets, meta) =
        model_file::from_bytes(&name, &bytes, &device.device).map_err(|e| e.to_string())?;
    let rows = meta.validation_split(digits).validation;
    if rows.is_empty() {
        return Err(format!(
            "{name} was trained without a validation split: there is nothing to choose TTA on"
        ));
    }
    let choice = choose_tta_on(&nets, digits, &rows, device)?;
    let bytes = model_file::with_tta_choice(&name, &bytes, choice).map_err(|e| e.to_string())?;
    write_atomically(path, &bytes)?;
    Ok(choice)
}

pub fn print_evaluation(truth: &[u8], predicted: &[u8]) {
    let matrix = ConfusionMatrix::new(truth, predicted);
    println!("confusion matrix (rows: true label, columns: predicted):");
    print!("     ");
    for class in 0..10 {
        print!("{class:>6}");
    }
    println!();
    for (label, row) in matrix.counts.iter().enumerate() {
        print!("{label:>5}");
        for count in row {
            print!("{count:>6}");
        }
        println!();
    }
    println!();
    print!("{}", ClassReport::new(&matrix).to_text());
}

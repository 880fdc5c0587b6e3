//! `digit-lab train`: a preset's recipe with command-line overrides, progress bars, the best
//! checkpoint saved as a model file, and the validation report of that checkpoint.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use digit_lab::augment::AugmentConfig;
use digit_lab::data::csv::CsvKind;
use digit_lab::evaluation::predict::argmax_rows;
use digit_lab::model::{Architecture, DigitNet, Preset};
use digit_lab::model_file::{self, ModelMeta, Precision, TrainingSummary};
use digit_lab::training::Trainer;
use digit_lab::training::config::{OptimizerConfig, TrainConfig};
use digit_lab::training::events::{EpochSummary, FinishReason, TrainEvent};

use super::common::{
    bar, compute_device, load_digits, predict_rows, print_evaluation, record_tta_choice,
    write_atomically,
};
use super::interrupt;
use super::{DeviceArg, OptimizerArg, ScheduleArg};

#[derive(Args)]
pub struct TrainArgs {
    /// Kaggle train.csv (or .csv.gz).
    #[arg(long)]
    train: PathBuf,
    /// Architecture and recipe: digit-lab, kaggle-classic, bn-deep, bn-dense, small, tiny.
    #[arg(long = "model", default_value = "digit-lab", value_parser = parse_preset)]
    preset: Preset,
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerArg>,
    /// Initial (peak, with one-cycle) learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// Within-run learning-rate schedule (default: the preset's recipe).
    #[arg(long, value_enum)]
    schedule: Option<ScheduleArg>,
    /// Multiply the learning rate by this after every epoch (1 = no decay).
    #[arg(long)]
    lr_decay: Option<f64>,
    /// Label smoothing of the cross-entropy, in [0, 0.5).
    #[arg(long)]
    label_smoothing: Option<f64>,
    /// Train on the images as they are (no random rotation/zoom/shift/shear).
    #[arg(long)]
    no_augment: bool,
    /// Set every dropout layer of the preset to this rate (default: the preset's own).
    #[arg(long)]
    dropout: Option<f32>,
    /// Fraction of the run, at its end, over which the augmentation fades linearly to none
    /// (0 = augment to the end).
    #[arg(long)]
    augment_fade: Option<f64>,
    /// Seed of the validation split (and, for member 0, of everything else random).
    #[arg(long)]
    seed: Option<u64>,
    /// Ensemble member number: another initialisation, batch order and augmentation over the
    /// same validation split (so members can be evaluated together with `evaluate`).
    #[arg(long, default_value_t = 0)]
    member: u64,
    /// Fraction of rows held out (stratified) for validation.
    #[arg(long)]
    validation_fraction: Option<f64>,
    /// Use only the first N rows of the file (quick experiments).
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
    /// Store the weights as f16 (half the file size).
    #[arg(long)]
    f16: bool,
    /// Where to save the best checkpoint (written as it improves, never half-written).
    #[arg(long, default_value = "model.bpk")]
    out: PathBuf,
    /// Replace `--out` if it exists (without this, an existing file is never touched).
    #[arg(long)]
    force: bool,
}

fn parse_preset(id: &str) -> Result<Preset, String> {
    Preset::from_id(id).ok_or_else(|| {
        let ids: Vec<&str> = Preset::ALL.iter().map(|p| p.id()).collect();
        format!("unknown model {id:?}; choose one of {}", ids.join(", "))
    })
}

pub fn run(args: TrainArgs) -> Result<(), String> {
    let mut config = args.preset.recipe();
    config.epochs = args.epochs.unwrap_or(config.epochs);
    config.batch_size = args.batch_size.unwrap_or(config.batch_size);
    config.learning_rate = args.lr.unwrap_or(config.learning_rate);
    config.seed = args.seed.unwrap_or(config.seed);
    config.member = args.member;
    config.lr_decay_per_epoch = args.lr_decay.unwrap_or(config.lr_decay_per_epoch);
    config.label_smoothing = args.label_smoothing.unwrap_or(config.label_smoothing);
    config.augment_fade = args.augment_fade.unwrap_or(config.augment_fade);
    if let Some(schedule) = args.schedule {
        config.schedule = config
            .schedule
            .with_one_cycle(schedule == ScheduleArg::OneCycle);
    }
    config.validation_fraction = args
        .validation_fraction
        .unwrap_or(config.validation_fraction);
    match (args.optimizer, config.optimizer) {
        (Some(OptimizerArg::Adam), OptimizerConfig::RmsProp { .. }) => {
            config.optimizer = OptimizerConfig::keras_adam()
        }
        (Some(OptimizerArg::Rmsprop), OptimizerConfig::Adam { .. }) => {
            config.optimizer = OptimizerConfig::rmsprop_with_epsilon(1e-7)
        }
        _ => {}
    }
    if args.no_augment {
        config.augmentation = AugmentConfig::NONE;
    }
    config.validate().map_err(|e| e.to_string())?;
    if args.out.exists() && !args.force {
        return Err(format!(
            "{} exists; pass --force to replace it, or choose another --out",
            args.out.display()
        ));
    }

    let mut digits = load_digits(&args.train, CsvKind::Train)?;
    if let Some(limit) = args.limit {
        digits = digits.head(limit);
    }
    let split = digits.split(config.validation_fraction, config.seed);
    let device = compute_device(args.device)?;
    let mut architecture = args.preset.architecture();
    if let Some(rate) = args.dropout {
        architecture = architecture.with_dropout(rate);
    }
    architecture
        .summary()
        .map_err(|e| format!("--dropout: {e}"))?;
    let model = DigitNet::new(&architecture, &device.device, config.training_seed())
        .map_err(|e| e.to_string())?;
    println!(
        "training {} ({} parameters) on {}: {} train / {} validation rows, \
         {} epochs, batch {}, {} lr {} ({} schedule, label smoothing {}, augmentation fade {}){}",
        args.preset,
        architecture.param_count(),
        device.description,
        split.train.len(),
        split.validation.len(),
        config.epochs,
        config.batch_size,
        config.optimizer.name(),
        config.learning_rate,
        config.schedule.name(),
        config.label_smoothing,
        config.augment_fade,
        args.dropout
            .map_or(String::new(), |rate| format!(", every dropout at {rate}"))
    );
    let digits = Arc::new(digits);
    let mut trainer = Trainer::new(
        model,
        digits.clone(),
        split.clone(),
        config.clone(),
        device.device.clone(),
        device.description.clone(),
    )
    .map_err(|e| e.to_string())?;

    let checkpoint = Checkpoint {
        preset: args.preset,
        architecture: architecture.clone(),
        config,
        train_rows: split.train.len(),
        validation_rows: split.validation.len(),
        device: device.description.clone(),
        precision: if args.f16 {
            Precision::F16
        } else {
            Precision::F32
        },
        out: args.out.clone(),
    };
    interrupt::catch();
    let finish = drive(&mut trainer, &checkpoint)?;
    let Some(best) = trainer.best_model() else {
        if interrupt::requested() {
            println!(
                "interrupted by Ctrl-C before an epoch ended; nothing was written ({} is as it \
                 was)",
                args.out.display()
            );
            std::process::exit(130)
        }
        let why = finish
            .failure
            .as_ref()
            .map_or_else(|| "no epoch was completed".to_string(), |f| f.to_string());
        return Err(format!(
            "{why}. No epoch ended with valid weights, so nothing was written ({} is as it was).",
            args.out.display()
        ));
    };
    let bytes = pollster::block_on(checkpoint.save(
        &best,
        finish.epochs_run,
        finish.best_epoch,
        finish.best_val_accuracy,
        finish.best_val_loss,
        finish.seconds,
    ))?;
    println!(
        "saved {} ({} KB); best epoch {} with validation accuracy {}",
        args.out.display(),
        bytes / 1024,
        finish
            .best_epoch
            .map_or("-".into(), |e| (e + 1).to_string()),
        finish
            .best_val_accuracy
            .map_or("-".into(), |a| format!("{:.4}", a))
    );

    if !split.validation.is_empty() {
        // Chosen on the file as written (f16 weights included), so `--tta` later predicts
        // with what helped this model, or with nothing when nothing did.
        let choice = record_tta_choice(&args.out, &digits, &device)?;
        println!(
            "test-time augmentation chosen on validation: {}",
            choice.describe()
        );
        let (probabilities, truth) =
            predict_rows(&best, &digits, &split.validation, &device, None)?;
        println!();
        print_evaluation(&truth, &argmax_rows(&probabilities));
    }
    match finish.reason {
        FinishReason::Failed => Err(finish.failure.map_or_else(
            || "training failed".into(),
            |f| format!("{f} (the best epoch before it is saved)"),
        )),
        FinishReason::Cancelled if interrupt::requested() => {
            println!("interrupted by Ctrl-C after {} epochs", finish.epochs_run);
            std::process::exit(130)
        }
        _ => Ok(()),
    }
}

/// Consume the event stream, with one progress bar per epoch and a line per finished epoch.
fn drive(
    trainer: &mut Trainer,
    checkpoint: &Checkpoint,
) -> Result<digit_lab::training::events::FinishInfo, String> {
    let batches = trainer.batches_per_epoch() as u64;
    let template = "epoch {prefix:>3} [{bar:30}] {pos}/{len} {msg}";
    let mut progress = bar(batches, template);
    let mut smoothed_loss = None::<f64>;
    let started = web_time::Instant::now();
    let mut last_epoch = None::<EpochSummary>;
    pollster::block_on(async {
        let mut finish = None;
        let mut stopping = false;
        while let Some(event) = trainer.next_event().await {
            if interrupt::requested() && !stopping {
                stopping = true;
                progress.println("Ctrl-C: stopping after this batch (again to quit at once)");
                trainer.cancel_handle().cancel();
            }
            match event {
                TrainEvent::Started(_) => progress.set_prefix("1"),
                TrainEvent::Batch(b) => {
                    let loss = smoothed_loss.map_or(b.loss, |s| 0.9 * s + 0.1 * b.loss);
                    smoothed_loss = Some(loss);
                    progress.set_position(b.batch as u64 + 1);
                    progress
                        .set_message(format!("loss {loss:.4}  {:.0} img/s", b.images_per_second));
                }
                TrainEvent::Epoch(e) => {
                    progress.finish_and_clear();
                    println!(
                        "epoch {:>3}: loss {:.4} acc {:.4} | val_loss {} val_acc {} | \
                         lr {:.2e} | {:.1} s, {:.0} img/s",
                        e.epoch + 1,
                        e.train_loss,
                        e.train_accuracy,
                        e.val_loss.map_or("-".into(), |v| format!("{v:.4}")),
                        e.val_accuracy.map_or("-".into(), |v| format!("{v:.4}")),
                        e.learning_rate,
                        e.seconds,
                        e.images_per_second
                    );
                    progress = bar(batches, template);
                    progress.set_prefix((e.epoch + 2).to_string());
                    last_epoch = Some(e);
                }
                // Written as soon as it improves, so an interrupted run keeps its best weights.
                TrainEvent::CheckpointSaved { epoch, .. } => {
                    let (accuracy, loss) = last_epoch
                        .as_ref()
                        .map_or((None, None), |e| (e.val_accuracy, e.val_loss));
                    let Some(best) = trainer.best_model() else {
                        continue;
                    };
                    checkpoint
                        .save(
                            &best,
                            epoch + 1,
                            Some(epoch),
                            accuracy,
                            loss,
                            started.elapsed().as_secs_f64(),
                        )
                        .await?;
                }
                TrainEvent::EarlyStopped { epoch, best_epoch } => println!(
                    "early stop after epoch {} (best epoch {})",
                    epoch + 1,
                    best_epoch.map_or("-".into(), |e| (e + 1).to_string())
                ),
                TrainEvent::Finished(info) => {
                    progress.finish_and_clear();
                    println!(
                        "finished ({:?}) after {} epochs in {:.1} s",
                        info.reason, info.epochs_run, info.seconds
                    );
                    if let Some(failure) = &info.failure {
                        println!("{failure}");
                    }
                    finish = Some(info);
                }
                _ => {}
            }
        }
        finish.ok_or_else(|| "training ended without a result".to_string())
    })
}

/// What every saved checkpoint of one run shares.
struct Checkpoint {
    preset: Preset,
    architecture: Architecture,
    config: TrainConfig,
    train_rows: usize,
    validation_rows: usize,
    device: String,
    precision: Precision,
    out: PathBuf,
}

impl Checkpoint {
    /// Write `model` with its training summary to `--out`; returns the file size.
    async fn save(
        &self,
        model: &DigitNet,
        epochs_run: usize,
        best_epoch: Option<usize>,
        val_accuracy: Option<f64>,
        val_loss: Option<f64>,
        seconds: f64,
    ) -> Result<usize, String> {
        let summary = TrainingSummary {
            config: self.config.clone(),
            epochs_run,
            best_epoch,
            val_accuracy,
            val_loss,
            train_rows: self.train_rows,
            validation_rows: self.validation_rows,
            seconds,
            device: self.device.clone(),
        };
        let meta = ModelMeta::new(Some(self.preset), self.architecture.clone(), Some(summary));
        let bytes = model_file::to_bytes(model, &meta, self.precision)
            .await
            .map_err(|e| e.to_string())?;
        write_atomically(&self.out, &bytes)?;
        Ok(bytes.len())
    }
}

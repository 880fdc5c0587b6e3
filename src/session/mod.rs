//! Everything the browser's worker does, as plain Rust: it owns the device, the loaded data, the
//! current model and a training run, takes [`Command`]s and emits [`Reply`]s. The worker is a thin
//! bridge to `postMessage`; native tests drive the very same code.
//!
//! One command is handled at a time, and a training run advances one event per
//! [`Session::train_step`], so the driver can interleave commands (pause, draw, inspect) with
//! training without any shared mutable state.

mod ensemble;
mod fine_tune;
mod inference;
mod insights;
mod training;

use std::sync::Arc;

use crate::augment::{AugmentConfig, augment_batch};
use crate::data::csv::{CsvKind, parse_csv};
use crate::data::dataset::{Digits, Split};
use crate::device::{self, ComputeDevice, DeviceKind};
use crate::evaluation::activations::{feature_maps, first_layer_filters};
use crate::evaluation::predict::{Tta, argmax_rows, predict_ensemble};
use crate::model::{DigitNet, Preset};
use crate::model_file::{self, ModelMeta, Precision, TrainingSummary};
use crate::protocol::*;
use crate::rng::Rng;
use crate::submission::submission_csv;
use crate::training::events::TrainEvent;
use crate::training::{EVAL_BATCH_SIZE, Trainer};

/// Where replies go: a message and, for files, its bytes.
pub type Emit<'a> = &'a mut dyn FnMut(Reply, Option<Vec<u8>>);

/// Inference batch size for test predictions (keeps WebGPU buffers well under browser limits).
const PREDICT_BATCH_SIZE: usize = 500;
const PREVIEW_COUNT: usize = 18;

struct CurrentModel {
    /// One network per member (one for a single model).
    nets: Vec<DigitNet>,
    meta: ModelMeta,
}

struct TrainRun {
    trainer: Trainer,
    preset: Preset,
    architecture: crate::model::Architecture,
    paused: bool,
    /// Training rows that are not train.csv's (a fine-tune's drawings), left out of the
    /// recorded split.
    extra_rows: usize,
}

#[derive(Default)]
pub struct Session {
    device: Option<ComputeDevice>,
    train: Option<Arc<Digits>>,
    test: Option<Arc<Digits>>,
    model: Option<CurrentModel>,
    run: Option<TrainRun>,
    /// Validation rows and probabilities behind the insight views.
    validation: Option<insights::Validation>,
}

fn failed(operation: Operation, problem: Problem) -> Reply {
    Reply::Error(Failure::new(operation, problem))
}

fn needs(operation: Operation, prerequisite: Prerequisite) -> Reply {
    Reply::Error(Failure::needs(operation, prerequisite))
}

/// A failure computing on or reading from the device.
fn device_failed(operation: Operation, cause: impl std::fmt::Display) -> Reply {
    failed(operation, Problem::Device(cause.to_string()))
}

impl Session {
    pub fn new() -> Self {
        Self::default()
    }

    /// True while a training run wants [`Session::train_step`] to be called.
    pub fn wants_training_step(&self) -> bool {
        self.run.as_ref().is_some_and(|run| !run.paused)
    }

    pub fn device_kind(&self) -> Option<DeviceKind> {
        self.device.as_ref().map(|d| d.kind)
    }

    pub async fn handle(&mut self, command: Command, payload: Option<Vec<u8>>, emit: Emit<'_>) {
        match command {
            Command::Init { force_cpu } => self.init(force_cpu, emit).await,
            Command::LoadCsv { role, file_name } => {
                self.load_csv(role, &file_name, payload.unwrap_or_default(), emit)
            }
            Command::Samples { role, count, seed } => self.samples(role, count, seed, emit),
            Command::AugmentPreview {
                config,
                count,
                seed,
            } => self.augment_preview(config, count, seed, emit).await,
            Command::Train { preset, config } => self.start_training(preset, config, emit),
            Command::Pause => self.set_paused(true, emit),
            Command::Resume => self.set_paused(false, emit),
            Command::Stop => {
                if let Some(run) = &mut self.run {
                    run.trainer.cancel_handle().cancel();
                    run.paused = false;
                }
            }
            Command::Insights { errors } => self.send_insights(errors, emit),
            Command::ConfusionCell {
                truth,
                predicted,
                limit,
            } => self.confusion_cell(truth, predicted, limit, emit),
            Command::Activations { image } => self.activations(image, emit).await,
            Command::Filters => self.filters(emit).await,
            Command::ClassifyMany { id, images } => self.classify_many(id, images, emit).await,
            Command::FineTune { epochs, drawings } => self.start_fine_tune(epochs, drawings, emit),
            Command::Classify { pixels } => self.classify(pixels, emit).await,
            Command::PredictTest { tta } => self.predict_test(tta, emit).await,
            Command::LoadModel { file_name, source } => {
                self.load_model(&file_name, source, payload.unwrap_or_default(), emit)
            }
            Command::CombineModels { file_name, parts } => {
                let bytes = payload.unwrap_or_default();
                self.combine_models(&file_name, &parts, &bytes, emit).await
            }
            Command::EvaluateValidation => self.evaluate_validation(emit).await,
        }
    }

    async fn init(&mut self, force_cpu: bool, emit: Emit<'_>) {
        if self.device.is_some() {
            // The GPU can be initialised once per worker; keep what we have.
            return self.announce_device(None, emit);
        }
        let (device, fallback_reason) = if force_cpu {
            (device::cpu(), Some("the CPU was requested".to_string()))
        } else {
            match device::gpu().await {
                Ok(gpu) => (gpu, None),
                Err(reason) => (device::cpu(), Some(reason)),
            }
        };
        self.device = Some(device);
        self.announce_device(fallback_reason, emit);
    }

    fn announce_device(&self, fallback_reason: Option<String>, emit: Emit<'_>) {
        if let Some(device) = &self.device {
            emit(
                Reply::DeviceReady {
                    kind: device.kind,
                    description: device.description.clone(),
                    fallback_reason,
                },
                None,
            );
        }
    }

    fn device(&self, operation: Operation, emit: Emit<'_>) -> Option<ComputeDevice> {
        let device = self.device.clone();
        if device.is_none() {
            emit(needs(operation, Prerequisite::Device), None);
        }
        device
    }

    fn load_csv(&mut self, role: DataRole, file_name: &str, bytes: Vec<u8>, emit: Emit<'_>) {
        if role == DataRole::Train && self.run.is_some() {
            return emit(
                failed(Operation::LoadData(role), Problem::TrainingInProgress),
                None,
            );
        }
        let expected = match role {
            DataRole::Train => CsvKind::Train,
            DataRole::Test => CsvKind::Test,
        };
        let started = web_time::Instant::now();
        let parsed = parse_csv(file_name, &bytes, Some(expected), &mut |progress| {
            emit(Reply::LoadProgress { role, progress }, None)
        });
        drop(bytes);
        match parsed {
            Err(csv_error) => emit(
                failed(Operation::LoadData(role), Problem::Csv(Box::new(csv_error))),
                None,
            ),
            Ok(parsed) => {
                let digits = Arc::new(Digits::from_csv(parsed));
                let summary = DataSummary {
                    role,
                    file_name: file_name.to_string(),
                    rows: digits.len(),
                    label_counts: digits.is_labelled().then(|| digits.label_counts()),
                    seconds: started.elapsed().as_secs_f64(),
                };
                match role {
                    DataRole::Train => {
                        self.train = Some(digits);
                        self.validation = None;
                    }
                    DataRole::Test => self.test = Some(digits),
                }
                emit(Reply::DataLoaded(summary), None);
            }
        }
    }

    fn data(&self, role: DataRole) -> Option<&Arc<Digits>> {
        match role {
            DataRole::Train => self.train.as_ref(),
            DataRole::Test => self.test.as_ref(),
        }
    }

    fn samples(&self, role: DataRole, count: usize, seed: u64, emit: Emit<'_>) {
        let Some(digits) = self.data(role) else {
            let missing = match role {
                DataRole::Train => Prerequisite::TrainData,
                DataRole::Test => Prerequisite::TestData,
            };
            return emit(needs(Operation::Samples, missing), None);
        };
        let rows = sample_rows(digits.len(), count, seed);
        let images = rows.iter().map(|&row| digit_image(digits, row)).collect();
        emit(Reply::Samples { role, images }, None);
    }

    async fn augment_preview(
        &self,
        config: AugmentConfig,
        count: usize,
        seed: u64,
        emit: Emit<'_>,
    ) {
        let operation = Operation::AugmentPreview;
        let Some(digits) = self.train.clone() else {
            return emit(needs(operation, Prerequisite::TrainData), None);
        };
        let Some(device) = self.device(operation, emit) else {
            return;
        };
        let rows = sample_rows(digits.len(), count, seed);
        let images = digits.images_tensor(&rows, &device.device);
        let mut rng = Rng::derive(seed, 0xA06);
        let augmented = augment_batch(images, &config, &mut rng);
        let data = match augmented.into_data_async().await {
            Ok(data) => data.try_into_vec::<f32>().unwrap_or_default(),
            Err(e) => return emit(device_failed(operation, format!("{e:?}")), None),
        };
        let augmented = rows
            .iter()
            .zip(data.chunks(crate::data::csv::IMAGE_PIXELS))
            .map(|(&row, values)| DigitImage {
                row,
                label: digits.label(row),
                pixels: values
                    .iter()
                    .map(|v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
                    .collect(),
            })
            .collect();
        let originals = rows.iter().map(|&row| digit_image(&digits, row)).collect();
        emit(
            Reply::AugmentPreview {
                originals,
                augmented,
            },
            None,
        );
    }

    /// Make a model current; `file` is its model file, sent along for download and storage.
    fn set_model(
        &mut self,
        nets: Vec<DigitNet>,
        meta: ModelMeta,
        source: ModelSource,
        file: Vec<u8>,
        emit: Emit<'_>,
    ) {
        emit(
            Reply::ModelReady(Box::new(model_info(meta.clone(), source))),
            Some(file),
        );
        self.model = Some(CurrentModel { nets, meta });
    }

    /// The model to use for inference: the one being trained, else the current one (every
    /// member of an ensemble; the architecture is member 1's, whose activations are shown).
    fn inference_model(&self) -> Option<(Vec<DigitNet>, &crate::model::Architecture)> {
        if let Some(run) = &self.run {
            return Some((vec![run.trainer.current_model()], &run.architecture));
        }
        self.model
            .as_ref()
            .map(|m| (m.nets.clone(), &m.meta.architecture))
    }

    fn load_model(&mut self, file_name: &str, source: ModelSource, bytes: Vec<u8>, emit: Emit<'_>) {
        let operation = Operation::LoadModel;
        if self.run.is_some() {
            return emit(failed(operation, Problem::TrainingInProgress), None);
        }
        let Some(device) = self.device(operation, emit) else {
            return;
        };
        match model_file::from_bytes(file_name, &bytes, &device.device) {
            Ok((nets, meta)) => {
                self.validation = None;
                self.set_model(nets, meta, source, bytes, emit);
            }
            Err(e) => emit(failed(operation, Problem::ModelFile(e)), None),
        }
    }
}

fn model_info(meta: ModelMeta, source: ModelSource) -> ModelInfo {
    let layers = meta.architecture.summary().unwrap_or_default();
    // Every member's: an ensemble's cost is all of them.
    let parameters = meta
        .members()
        .iter()
        .map(|m| m.architecture.param_count())
        .sum();
    ModelInfo {
        source,
        meta,
        layers,
        parameters,
    }
}

/// `count` distinct rows (fewer if the set is smaller) chosen by a seeded shuffle.
fn sample_rows(len: usize, count: usize, seed: u64) -> Vec<usize> {
    let mut rows: Vec<usize> = (0..len).collect();
    let mut rng = Rng::derive(seed, 0x5A3);
    let take = count.min(len);
    // Partial Fisher-Yates: only the first `take` positions are needed.
    for i in 0..take {
        let j = i + rng.below(len - i);
        rows.swap(i, j);
    }
    rows.truncate(take);
    rows
}

fn digit_image(digits: &Digits, row: usize) -> DigitImage {
    DigitImage {
        row,
        label: digits.label(row),
        pixels: digits.image(row).to_vec(),
    }
}

//! Everything the browser's worker does, as plain Rust: it owns the device, the loaded data, the
//! current model and a training run, takes [`Command`]s and emits [`Reply`]s. The worker is a thin
//! bridge to `postMessage`; native tests drive the very same code.
//!
//! One command is handled at a time, and a training run advances one event per
//! [`Session::train_step`], so the driver can interleave commands (pause, draw, inspect) with
//! training without any shared mutable state.

mod insights;

use std::sync::Arc;

use crate::augment::{AugmentConfig, augment_batch};
use crate::data::csv::{CsvKind, parse_csv};
use crate::data::dataset::{Digits, Split};
use crate::device::{self, ComputeDevice, DeviceKind};
use crate::evaluation::activations::feature_maps;
use crate::evaluation::predict::{Tta, argmax_rows, predict_probabilities};
use crate::model::{DigitNet, Preset};
use crate::model_file::{self, ModelMeta, Precision, TrainingSummary};
use crate::protocol::*;
use crate::rng::Rng;
use crate::submission::submission_csv;
use crate::training::events::{FinishReason, TrainEvent};
use crate::training::{EVAL_BATCH_SIZE, Trainer};

/// Where replies go: a message and, for files, its bytes.
pub type Emit<'a> = &'a mut dyn FnMut(Reply, Option<Vec<u8>>);

/// Inference batch size for test predictions (keeps WebGPU buffers well under browser limits).
const PREDICT_BATCH_SIZE: usize = 500;
const PREVIEW_COUNT: usize = 18;

struct CurrentModel {
    net: DigitNet,
    meta: ModelMeta,
}

struct TrainRun {
    trainer: Trainer,
    preset: Preset,
    architecture: crate::model::Architecture,
    paused: bool,
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

fn error(context: &str, message: impl Into<String>) -> Reply {
    Reply::Error {
        context: context.into(),
        message: message.into(),
    }
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
            Command::Classify { pixels } => self.classify(pixels, emit).await,
            Command::PredictTest { tta } => self.predict_test(tta, emit).await,
            Command::LoadModel { file_name, source } => {
                self.load_model(&file_name, source, payload.unwrap_or_default(), emit)
            }
            Command::ExportModel => self.export_model(emit).await,
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

    fn device(&self, context: &str, emit: Emit<'_>) -> Option<ComputeDevice> {
        let device = self.device.clone();
        if device.is_none() {
            emit(error(context, "the compute device is not ready yet"), None);
        }
        device
    }

    fn load_csv(&mut self, role: DataRole, file_name: &str, bytes: Vec<u8>, emit: Emit<'_>) {
        if role == DataRole::Train && self.run.is_some() {
            return emit(
                error(
                    "Load train.csv",
                    "training is using the loaded data: stop it before loading another file",
                ),
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
                Reply::DataError {
                    role,
                    error: csv_error,
                },
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
            return emit(error("Samples", "no data loaded yet"), None);
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
        let context = "Augmentation preview";
        let Some(digits) = self.train.clone() else {
            return emit(
                error(context, "load train.csv to preview augmentation"),
                None,
            );
        };
        let Some(device) = self.device(context, emit) else {
            return;
        };
        let rows = sample_rows(digits.len(), count, seed);
        let images = digits.images_tensor(&rows, &device.device);
        let mut rng = Rng::derive(seed, 0xA06);
        let augmented = augment_batch(images, &config, &mut rng);
        let data = match augmented.into_data_async().await {
            Ok(data) => data.try_into_vec::<f32>().unwrap_or_default(),
            Err(e) => return emit(error(context, format!("{e:?}")), None),
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

    fn start_training(
        &mut self,
        preset: Preset,
        config: crate::training::config::TrainConfig,
        emit: Emit<'_>,
    ) {
        let context = "Train";
        if self.run.is_some() {
            return emit(
                error(context, "a training run is already in progress"),
                None,
            );
        }
        let Some(digits) = self.train.clone() else {
            return emit(error(context, "load train.csv first"), None);
        };
        let Some(device) = self.device(context, emit) else {
            return;
        };
        let split = digits.split(config.validation_fraction, config.seed);
        let built = DigitNet::new(&preset.architecture(), &device.device, config.seed)
            .map_err(|e| e.to_string())
            .and_then(|net| {
                Trainer::new(
                    net,
                    digits.clone(),
                    split.clone(),
                    config,
                    device.device.clone(),
                    device.description.clone(),
                )
                .map_err(|e| e.to_string())
            });
        match built {
            Ok(trainer) => {
                self.validation = None;
                self.run = Some(TrainRun {
                    trainer,
                    preset,
                    architecture: preset.architecture(),
                    paused: false,
                })
            }
            Err(message) => emit(error(context, message), None),
        }
    }

    fn set_paused(&mut self, paused: bool, emit: Emit<'_>) {
        if let Some(run) = &mut self.run {
            run.paused = paused;
            emit(
                if paused {
                    Reply::Paused
                } else {
                    Reply::Resumed
                },
                None,
            );
        }
    }

    /// Advance the training run by one event and forward it (with the insights after each epoch
    /// and the model file after each new best checkpoint).
    pub async fn train_step(&mut self, emit: Emit<'_>) {
        let Some(run) = &mut self.run else { return };
        let Some(event) = run.trainer.next_event().await else {
            return self.finish_training(emit).await;
        };
        let epoch_ended = matches!(event, TrainEvent::Epoch(_));
        let checkpoint = matches!(event, TrainEvent::CheckpointSaved { .. });
        let finished = matches!(event, TrainEvent::Finished(_));
        emit(Reply::Train(event.clone()), None);
        if epoch_ended {
            let snapshot = run.trainer.latest_validation();
            if !snapshot.probabilities.is_empty() {
                let rows = run.trainer.split().validation.clone();
                self.validation = Some(insights::Validation {
                    epoch: Some(snapshot.epoch),
                    rows,
                    probabilities: snapshot.probabilities.clone(),
                });
                self.send_insights(insights::DEFAULT_GALLERY, emit);
            }
        }
        if checkpoint && let Some(run) = &self.run {
            let best = run.trainer.best_model();
            let meta = self.trained_meta(run, None);
            match model_file::to_bytes(&best, &meta, Precision::F32).await {
                Ok(bytes) => emit(
                    Reply::ModelFile {
                        checkpoint: true,
                        file_name: format!("{}-checkpoint.bpk", run.preset),
                    },
                    Some(bytes),
                ),
                Err(e) => emit(error("Checkpoint", e.to_string()), None),
            }
        }
        if let (true, TrainEvent::Finished(info)) = (finished, event) {
            let failed = info.reason == FinishReason::Failed;
            self.finish_training_with(Some(info), emit).await;
            if failed {
                emit(
                    error(
                        "Training",
                        "the device failed; the best weights so far were kept. Reload the page to retry, or train on the CPU.",
                    ),
                    None,
                );
            }
        }
    }

    async fn finish_training(&mut self, emit: Emit<'_>) {
        self.finish_training_with(None, emit).await
    }

    /// The run is over: its best checkpoint becomes the current model.
    async fn finish_training_with(
        &mut self,
        info: Option<crate::training::events::FinishInfo>,
        emit: Emit<'_>,
    ) {
        let Some(run) = self.run.take() else { return };
        let meta = self.trained_meta(&run, info.as_ref());
        let net = run.trainer.best_model();
        self.set_model(net, meta, ModelSource::Trained, emit);
        self.export_model(emit).await;
    }

    fn trained_meta(
        &self,
        run: &TrainRun,
        info: Option<&crate::training::events::FinishInfo>,
    ) -> ModelMeta {
        let split = run.trainer.split();
        let summary = TrainingSummary {
            config: run.trainer.config().clone(),
            epochs_run: info.map_or(0, |i| i.epochs_run),
            best_epoch: run.trainer.best_epoch(),
            val_accuracy: info.and_then(|i| i.best_val_accuracy),
            val_loss: info.and_then(|i| i.best_val_loss),
            train_rows: split.train.len(),
            validation_rows: split.validation.len(),
            seconds: info.map_or(0.0, |i| i.seconds),
            device: self
                .device
                .as_ref()
                .map(|d| d.description.clone())
                .unwrap_or_default(),
        };
        ModelMeta::new(Some(run.preset), run.architecture.clone(), Some(summary))
    }

    fn set_model(&mut self, net: DigitNet, meta: ModelMeta, source: ModelSource, emit: Emit<'_>) {
        let layers = meta.architecture.summary().unwrap_or_default();
        let parameters = layers.iter().map(|l| l.params).sum();
        emit(
            Reply::ModelReady(Box::new(ModelInfo {
                source,
                meta: meta.clone(),
                layers,
                parameters,
            })),
            None,
        );
        self.model = Some(CurrentModel { net, meta });
    }

    /// The model to use for inference: the one being trained, else the current one.
    fn inference_model(&self) -> Option<(DigitNet, &crate::model::Architecture)> {
        if let Some(run) = &self.run {
            return Some((run.trainer.current_model(), &run.architecture));
        }
        self.model
            .as_ref()
            .map(|m| (m.net.clone(), &m.meta.architecture))
    }

    fn load_model(&mut self, file_name: &str, source: ModelSource, bytes: Vec<u8>, emit: Emit<'_>) {
        let context = "Load model";
        if self.run.is_some() {
            return emit(
                error(context, "stop training before loading another model"),
                None,
            );
        }
        let Some(device) = self.device(context, emit) else {
            return;
        };
        match model_file::from_bytes(file_name, &bytes, &device.device) {
            Ok((net, meta)) => {
                self.validation = None;
                self.set_model(net, meta, source, emit);
            }
            Err(e) => emit(error(context, e.to_string()), None),
        }
    }

    async fn export_model(&self, emit: Emit<'_>) {
        let Some(model) = &self.model else {
            return emit(error("Save model", "there is no model yet"), None);
        };
        let name = model
            .meta
            .preset
            .map_or("model".to_string(), |p| p.to_string());
        match model_file::to_bytes(&model.net, &model.meta, Precision::F32).await {
            Ok(bytes) => emit(
                Reply::ModelFile {
                    checkpoint: false,
                    file_name: format!("digit-lab-{name}.bpk"),
                },
                Some(bytes),
            ),
            Err(e) => emit(error("Save model", e.to_string()), None),
        }
    }

    async fn classify(&self, pixels: Vec<u8>, emit: Emit<'_>) {
        let context = "Classify";
        let (Some((net, _)), Some(device)) = (self.inference_model(), self.device.clone()) else {
            return emit(error(context, "no model is loaded yet"), None);
        };
        if pixels.len() != crate::data::csv::IMAGE_PIXELS {
            return emit(error(context, "a drawing must be 28x28 pixels"), None);
        }
        let digits = Digits::new(pixels.clone(), None);
        match predict_probabilities(&net, &digits, &[0], &device.device, 1, None, &mut |_, _| {})
            .await
        {
            Ok(probabilities) => emit(
                Reply::Classification {
                    pixels,
                    probabilities,
                },
                None,
            ),
            Err(e) => emit(error(context, e.to_string()), None),
        }
    }

    async fn activations(&self, image: ImageRef, emit: Emit<'_>) {
        let context = "Activations";
        let (Some((net, architecture)), Some(device)) =
            (self.inference_model(), self.device.clone())
        else {
            return emit(error(context, "no model is loaded yet"), None);
        };
        let pixels = match &image {
            ImageRef::Pixels(pixels) => Some(pixels.clone()),
            ImageRef::Test(row) => self
                .test
                .as_ref()
                .filter(|d| *row < d.len())
                .map(|d| d.image(*row).to_vec()),
            ImageRef::Validation(position) => self.validation_image(*position),
        };
        let Some(pixels) = pixels else {
            return emit(error(context, "that image is not available"), None);
        };
        match feature_maps(&net, architecture, &pixels, &device.device).await {
            Ok(layers) => emit(
                Reply::Activations {
                    input: pixels,
                    layers,
                },
                None,
            ),
            Err(message) => emit(error(context, message), None),
        }
    }

    fn validation_image(&self, position: usize) -> Option<Vec<u8>> {
        let train = self.train.as_ref()?;
        let row = match &self.validation {
            Some(v) => *v.rows.get(position)?,
            None => position,
        };
        (row < train.len()).then(|| train.image(row).to_vec())
    }

    async fn predict_test(&self, tta: bool, emit: Emit<'_>) {
        let context = "Predict test.csv";
        let Some(test) = self.test.clone() else {
            return emit(error(context, "load test.csv first"), None);
        };
        let (Some((net, _)), Some(device)) = (self.inference_model(), self.device.clone()) else {
            return emit(error(context, "no model is loaded yet"), None);
        };
        let rows: Vec<usize> = (0..test.len()).collect();
        let tta = tta.then(Tta::default);
        let result = predict_probabilities(
            &net,
            &test,
            &rows,
            &device.device,
            PREDICT_BATCH_SIZE,
            tta.as_ref(),
            &mut |done, total| emit(Reply::PredictProgress { done, total }, None),
        )
        .await;
        match result {
            Ok(probabilities) => {
                let labels = argmax_rows(&probabilities);
                let preview = (0..PREVIEW_COUNT.min(test.len()))
                    .map(|row| DigitImage {
                        row,
                        label: Some(labels[row]),
                        pixels: test.image(row).to_vec(),
                    })
                    .collect();
                emit(
                    Reply::Predictions {
                        preview,
                        rows: labels.len(),
                    },
                    Some(submission_csv(&labels).into_bytes()),
                );
            }
            Err(e) => emit(error(context, e.to_string()), None),
        }
    }

    fn send_insights(&self, gallery: usize, emit: Emit<'_>) {
        match (&self.validation, &self.train) {
            (Some(validation), Some(train)) => emit(
                Reply::Insights(Box::new(insights::build(validation, train, gallery))),
                None,
            ),
            _ => emit(
                error(
                    "Insights",
                    "train a model (or evaluate one on train.csv) to see validation insights",
                ),
                None,
            ),
        }
    }

    fn confusion_cell(&self, truth: u8, predicted: u8, limit: usize, emit: Emit<'_>) {
        if let (Some(validation), Some(train)) = (&self.validation, &self.train) {
            let (images, total) = insights::cell(validation, train, truth, predicted, limit);
            emit(
                Reply::ConfusionCell {
                    truth,
                    predicted,
                    images,
                    total,
                },
                None,
            );
        }
    }

    /// Predict the validation split of the loaded train.csv with the current model (for a model
    /// loaded from a file, using its own recorded split), so the insight views have data.
    async fn evaluate_validation(&mut self, emit: Emit<'_>) {
        let context = "Evaluate";
        let (Some(train), Some(model), Some(device)) =
            (self.train.clone(), self.model.as_ref(), self.device.clone())
        else {
            return emit(error(context, "load train.csv and a model first"), None);
        };
        let (fraction, seed) = model
            .meta
            .training
            .as_ref()
            .map_or((0.1, 42), |t| (t.config.validation_fraction, t.config.seed));
        let Split { validation, .. } = train.split(fraction, seed);
        let result = predict_probabilities(
            &model.net,
            &train,
            &validation,
            &device.device,
            EVAL_BATCH_SIZE,
            None,
            &mut |_, _| {},
        )
        .await;
        match result {
            Ok(probabilities) => {
                self.validation = Some(insights::Validation {
                    epoch: None,
                    rows: validation,
                    probabilities,
                });
                self.send_insights(insights::DEFAULT_GALLERY, emit);
            }
            Err(e) => emit(error(context, e.to_string()), None),
        }
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

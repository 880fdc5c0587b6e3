//! The page's state: signals fed by the worker's replies. Panels read them; only
//! [`AppState::apply`] writes what the worker reports.

use digit_lab::data::csv::{CsvError, Phase};
use digit_lab::device::DeviceKind;
use digit_lab::protocol::{
    DataRole, DataSummary, DigitImage, Insights, LayerMaps, ModelInfo, Reply,
};
use digit_lab::training::events::{BatchMetrics, EpochSummary, FinishInfo, StartInfo, TrainEvent};
use leptos::prelude::*;

use crate::storage;

#[derive(Clone, Debug, PartialEq)]
pub struct DeviceInfo {
    pub kind: DeviceKind,
    pub description: String,
    pub fallback_reason: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LoadStage {
    Reading,
    Decompressing,
    Parsing,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoadProgress {
    pub stage: LoadStage,
    pub fraction: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Idle,
    Starting,
    Running,
    Paused,
    Finished,
}

/// One smoothed point per batch, at a fractional epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchPoint {
    pub epoch: f64,
    pub loss: f64,
    pub accuracy: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TrainingView {
    pub status: RunStatus,
    pub start: Option<StartInfo>,
    pub batches: Vec<BatchPoint>,
    pub last_batch: Option<BatchMetrics>,
    pub epochs: Vec<EpochSummary>,
    pub learning_rate_changes: Vec<(usize, f64, f64)>,
    pub best_epoch: Option<usize>,
    pub finish: Option<FinishInfo>,
    /// Wall time of the run so far, for the ETA.
    pub started_at_ms: f64,
    /// (images, seconds) of the latest batches, for a steady images/s reading.
    pub recent: std::collections::VecDeque<(usize, f64)>,
}

/// Batches averaged in the images/s reading.
const RECENT_BATCHES: usize = 20;

impl TrainingView {
    /// Images per second over the latest batches (a single small last batch would mislead).
    pub fn images_per_second(&self) -> f64 {
        let (images, seconds) = self
            .recent
            .iter()
            .fold((0, 0.0), |(i, s), (images, seconds)| {
                (i + images, s + seconds)
            });
        images as f64 / seconds.max(1e-9)
    }
}

impl Default for TrainingView {
    fn default() -> Self {
        Self {
            status: RunStatus::Idle,
            start: None,
            batches: Vec::new(),
            last_batch: None,
            epochs: Vec::new(),
            learning_rate_changes: Vec::new(),
            best_epoch: None,
            finish: None,
            started_at_ms: 0.0,
            recent: std::collections::VecDeque::new(),
        }
    }
}

/// Exponential smoothing of the per-batch curves (the raw values are noisy).
const SMOOTHING: f64 = 0.9;

#[derive(Clone, Debug, PartialEq)]
pub struct Predictions {
    pub preview: Vec<DigitImage>,
    pub rows: usize,
    pub csv: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub truth: u8,
    pub predicted: u8,
    pub images: Vec<DigitImage>,
    pub total: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Activations {
    pub input: Vec<u8>,
    pub layers: Vec<LayerMaps>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Classification {
    pub pixels: Vec<u8>,
    pub probabilities: Vec<f32>,
    /// Milliseconds from sending the drawing to receiving the answer.
    pub latency_ms: f64,
}

#[derive(Clone, Copy)]
pub struct AppState {
    pub worker_ready: RwSignal<bool>,
    pub device: RwSignal<Option<DeviceInfo>>,
    pub train_data: RwSignal<Option<DataSummary>>,
    pub test_data: RwSignal<Option<DataSummary>>,
    pub train_load: RwSignal<Option<LoadProgress>>,
    pub test_load: RwSignal<Option<LoadProgress>>,
    pub data_error: RwSignal<Option<(DataRole, CsvError)>>,
    pub samples: RwSignal<Vec<DigitImage>>,
    pub augment_preview: RwSignal<Option<(Vec<DigitImage>, Vec<DigitImage>)>>,
    pub training: RwSignal<TrainingView>,
    pub insights: RwSignal<Option<Insights>>,
    pub cell: RwSignal<Option<Cell>>,
    pub activations: RwSignal<Option<Activations>>,
    pub classification: RwSignal<Option<Classification>>,
    pub classify_sent_ms: RwSignal<f64>,
    pub predictions: RwSignal<Option<Predictions>>,
    pub predict_progress: RwSignal<Option<(usize, usize)>>,
    pub model: RwSignal<Option<ModelInfo>>,
    /// Bumped each time a fresh worker replaces one that crashed.
    pub worker_generation: RwSignal<u32>,
    /// After a crash the replacement worker runs on the CPU (the GPU may be what failed).
    pub force_cpu: RwSignal<bool>,
    /// The worker's wasm memory after the latest epoch.
    pub worker_memory: RwSignal<Option<u64>>,
    /// The latest problem to show (context, message).
    pub error: RwSignal<Option<(String, String)>>,
}

impl AppState {
    pub fn new() -> Self {
        Self {
            worker_ready: RwSignal::new(false),
            device: RwSignal::new(None),
            train_data: RwSignal::new(None),
            test_data: RwSignal::new(None),
            train_load: RwSignal::new(None),
            test_load: RwSignal::new(None),
            data_error: RwSignal::new(None),
            samples: RwSignal::new(Vec::new()),
            augment_preview: RwSignal::new(None),
            training: RwSignal::new(TrainingView::default()),
            insights: RwSignal::new(None),
            cell: RwSignal::new(None),
            activations: RwSignal::new(None),
            classification: RwSignal::new(None),
            classify_sent_ms: RwSignal::new(0.0),
            predictions: RwSignal::new(None),
            predict_progress: RwSignal::new(None),
            model: RwSignal::new(None),
            worker_generation: RwSignal::new(0),
            force_cpu: RwSignal::new(false),
            worker_memory: RwSignal::new(None),
            error: RwSignal::new(None),
        }
    }

    pub fn load_progress(&self, role: DataRole) -> RwSignal<Option<LoadProgress>> {
        match role {
            DataRole::Train => self.train_load,
            DataRole::Test => self.test_load,
        }
    }

    /// Fold one worker reply into the signals.
    pub fn apply(&self, reply: Reply, bytes: Option<Vec<u8>>) {
        match reply {
            Reply::WorkerReady => self.worker_ready.set(true),
            Reply::WorkerCrashed { message } => crate::worker::restart(*self, message),
            Reply::DeviceReady {
                kind,
                description,
                fallback_reason,
            } => self.device.set(Some(DeviceInfo {
                kind,
                description,
                fallback_reason,
            })),
            Reply::LoadProgress { role, progress } => {
                let stage = match progress.phase {
                    Phase::Decompressing => LoadStage::Decompressing,
                    Phase::Parsing => LoadStage::Parsing,
                };
                let fraction = progress.done as f64 / progress.total.max(1) as f64;
                self.load_progress(role)
                    .set(Some(LoadProgress { stage, fraction }));
            }
            Reply::DataLoaded(summary) => {
                let role = summary.role;
                self.load_progress(role).set(None);
                if self
                    .data_error
                    .with_untracked(|e| e.as_ref().is_some_and(|(r, _)| *r == role))
                {
                    self.data_error.set(None);
                }
                match role {
                    DataRole::Train => {
                        self.train_data.set(Some(summary));
                        self.insights.set(None);
                        self.cell.set(None);
                    }
                    DataRole::Test => {
                        self.test_data.set(Some(summary));
                        self.predictions.set(None);
                    }
                }
            }
            Reply::DataError { role, error } => {
                self.load_progress(role).set(None);
                self.data_error.set(Some((role, error)));
            }
            Reply::Samples { images, .. } => self.samples.set(images),
            Reply::AugmentPreview {
                originals,
                augmented,
            } => self.augment_preview.set(Some((originals, augmented))),
            Reply::Train(event) => self.apply_train_event(event),
            Reply::Paused => self.training.update(|t| t.status = RunStatus::Paused),
            Reply::Resumed => self.training.update(|t| t.status = RunStatus::Running),
            Reply::Insights(insights) => self.insights.set(Some(*insights)),
            Reply::ConfusionCell {
                truth,
                predicted,
                images,
                total,
            } => self.cell.set(Some(Cell {
                truth,
                predicted,
                images,
                total,
            })),
            Reply::Activations { input, layers } => {
                self.activations.set(Some(Activations { input, layers }))
            }
            Reply::Classification {
                pixels,
                probabilities,
            } => {
                let latency_ms = now_ms() - self.classify_sent_ms.get_untracked();
                self.classification.set(Some(Classification {
                    pixels,
                    probabilities,
                    latency_ms,
                }))
            }
            Reply::PredictProgress { done, total } => {
                self.predict_progress.set(Some((done, total)))
            }
            Reply::Predictions { preview, rows } => {
                self.predict_progress.set(None);
                let csv = bytes
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                self.predictions
                    .set(Some(Predictions { preview, rows, csv }));
            }
            Reply::ModelReady(info) => {
                self.model.set(Some(*info));
                self.activations.set(None);
                self.classification.set(None);
            }
            Reply::ModelFile {
                checkpoint,
                file_name,
            } => {
                if let Some(bytes) = bytes {
                    storage::remember_model(file_name, bytes, checkpoint);
                }
            }
            Reply::WorkerMemory { wasm_bytes } => self.worker_memory.set(Some(wasm_bytes)),
            Reply::Error { context, message } => {
                if context == "Train" {
                    self.training.update(|t| {
                        if t.status == RunStatus::Starting {
                            t.status = RunStatus::Idle
                        }
                    });
                }
                if context == "Predict test.csv" {
                    self.predict_progress.set(None);
                }
                self.error.set(Some((context, message)));
            }
        }
    }

    fn apply_train_event(&self, event: TrainEvent) {
        self.training.update(|t| match event {
            TrainEvent::Started(start) => {
                *t = TrainingView {
                    status: RunStatus::Running,
                    start: Some(start),
                    started_at_ms: now_ms(),
                    ..TrainingView::default()
                };
            }
            TrainEvent::Batch(batch) => {
                let epoch = batch.epoch as f64 + (batch.batch + 1) as f64 / batch.batches as f64;
                let point = match t.batches.last() {
                    Some(last) => BatchPoint {
                        epoch,
                        loss: SMOOTHING * last.loss + (1.0 - SMOOTHING) * batch.loss,
                        accuracy: SMOOTHING * last.accuracy + (1.0 - SMOOTHING) * batch.accuracy,
                    },
                    None => BatchPoint {
                        epoch,
                        loss: batch.loss,
                        accuracy: batch.accuracy,
                    },
                };
                t.batches.push(point);
                if t.recent.len() == RECENT_BATCHES {
                    t.recent.pop_front();
                }
                t.recent.push_back((
                    batch.size,
                    batch.size as f64 / batch.images_per_second.max(1e-9),
                ));
                t.last_batch = Some(batch);
            }
            TrainEvent::Epoch(summary) => t.epochs.push(summary),
            TrainEvent::LearningRateChanged { epoch, from, to } => {
                t.learning_rate_changes.push((epoch, from, to))
            }
            TrainEvent::CheckpointSaved { epoch, .. } => t.best_epoch = Some(epoch),
            TrainEvent::EarlyStopped { .. } => {}
            TrainEvent::Finished(info) => {
                t.status = RunStatus::Finished;
                t.finish = Some(info);
            }
        });
    }
}

/// A monotonic clock in milliseconds (sub-millisecond where the browser allows).
pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or_else(js_sys::Date::now, |p| p.now())
}

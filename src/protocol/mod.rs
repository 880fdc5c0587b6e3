//! Messages between the browser page and the worker that owns the data, the device and the model.
//! Plain serde data: the page sends [`Command`]s and renders [`Reply`]s; a failure is a
//! [`Failure`] (which operation, what problem), never a string to match. [`wire`] encodes both
//! directions in one place. Large byte payloads (CSV files, model files, submission text) travel
//! beside the message as a transferred `ArrayBuffer`, never inside it.

mod failure;
pub mod wire;

pub use failure::{Failure, Operation, Prerequisite, Problem};

use serde::{Deserialize, Serialize};

use crate::augment::AugmentConfig;
use crate::data::csv::Progress;
use crate::device::DeviceKind;
use crate::evaluation::metrics::{ClassReport, ConfusionMatrix, RankedPrediction};
use crate::model::{LayerInfo, Preset};
use crate::model_file::ModelMeta;
use crate::training::config::TrainConfig;
use crate::training::events::TrainEvent;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataRole {
    Train,
    Test,
}

/// Where the current model came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ModelSource {
    Bundled,
    Trained,
    /// Loaded from a file (its name) or restored from the browser's storage.
    File(String),
    Stored,
}

/// Which image to run through the network for the activation grids.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ImageRef {
    /// A row of the validation split (position within it).
    Validation(usize),
    /// A row of test.csv.
    Test(usize),
    /// A digit drawn on the canvas.
    Pixels(Vec<u8>),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Choose the device: WebGPU unless `force_cpu` (or unavailable).
    Init {
        force_cpu: bool,
    },
    /// Parse a CSV; its bytes come alongside.
    LoadCsv {
        role: DataRole,
        file_name: String,
    },
    Samples {
        role: DataRole,
        count: usize,
        seed: u64,
    },
    AugmentPreview {
        config: AugmentConfig,
        count: usize,
        seed: u64,
    },
    Train {
        preset: Preset,
        config: TrainConfig,
    },
    Pause,
    Resume,
    Stop,
    Insights {
        errors: usize,
    },
    /// Validation digits with this true and predicted label (a confusion-matrix cell).
    ConfusionCell {
        truth: u8,
        predicted: u8,
        limit: usize,
    },
    Activations {
        image: ImageRef,
    },
    /// The first convolution's filters, of the model in training (else the current one).
    Filters,
    /// Class probabilities of each 28x28 image, in order (the user's handwriting set).
    /// `id` comes back with the answer (only the latest request's answer is used).
    ClassifyMany {
        id: u64,
        images: Vec<Vec<u8>>,
    },
    /// Train the current model further on train.csv with these labelled drawings mixed in,
    /// judged on its own validation split: a training run like `Train`'s.
    FineTune {
        epochs: usize,
        drawings: Vec<(u8, Vec<u8>)>,
    },
    Classify {
        pixels: Vec<u8>,
    },
    PredictTest {
        tta: bool,
    },
    /// A model file's bytes come alongside; `source` says where they are from.
    LoadModel {
        file_name: String,
        source: ModelSource,
    },
    /// Combine model files into one ensemble file and make it current (named `file_name`). The
    /// files' bytes come alongside one after another; `parts` names each with its length. With
    /// train.csv loaded, the ensemble's accuracy on the members' validation split is measured
    /// and recorded in the file.
    CombineModels {
        file_name: String,
        parts: Vec<(String, usize)>,
    },
    /// Predict the loaded train.csv's validation split with the current model (the split it was
    /// trained with, when recorded) to fill the insight views.
    EvaluateValidation,
}

/// A labelled (or not) image for galleries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DigitImage {
    pub row: usize,
    pub label: Option<u8>,
    pub pixels: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    pub role: DataRole,
    pub file_name: String,
    pub rows: usize,
    pub label_counts: Option<[usize; 10]>,
    pub seconds: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GalleryItem {
    pub prediction: RankedPrediction,
    pub pixels: Vec<u8>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Insights {
    pub epoch: Option<usize>,
    pub validation_rows: usize,
    pub confusion: ConfusionMatrix,
    pub report: ClassReport,
    pub errors: Vec<GalleryItem>,
    pub correct: Vec<GalleryItem>,
}

/// One layer's feature maps, each normalised (mean/std → 0..255) for display.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerMaps {
    pub name: String,
    pub shape: String,
    pub count: usize,
    pub height: usize,
    pub width: usize,
    /// `count * height * width` bytes, map after map.
    pub values: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub source: ModelSource,
    pub meta: ModelMeta,
    pub layers: Vec<LayerInfo>,
    pub parameters: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    /// The worker's code is loaded and it accepts commands.
    WorkerReady,
    /// The worker's wasm trapped (a panic or a lost GPU device) and can no longer answer; its
    /// JavaScript loader reports it (see [`wire`]).
    WorkerCrashed {
        message: String,
    },
    DeviceReady {
        kind: DeviceKind,
        description: String,
        /// Why WebGPU is not in use, when it is not.
        fallback_reason: Option<String>,
    },
    LoadProgress {
        role: DataRole,
        progress: Progress,
    },
    DataLoaded(DataSummary),
    Samples {
        role: DataRole,
        images: Vec<DigitImage>,
    },
    AugmentPreview {
        originals: Vec<DigitImage>,
        augmented: Vec<DigitImage>,
    },
    Train(TrainEvent),
    Paused,
    Resumed,
    Insights(Box<Insights>),
    ConfusionCell {
        truth: u8,
        predicted: u8,
        images: Vec<DigitImage>,
        total: usize,
    },
    Activations {
        input: Vec<u8>,
        layers: Vec<LayerMaps>,
    },
    /// One image per filter of the first convolution; `None`: the model has none.
    Filters {
        layer: Option<LayerMaps>,
    },
    /// `ClassifyMany`'s answer: 10 probabilities per image, in the order asked.
    ClassifiedMany {
        id: u64,
        probabilities: Vec<f32>,
    },
    Classification {
        pixels: Vec<u8>,
        probabilities: Vec<f32>,
    },
    PredictProgress {
        done: usize,
        total: usize,
    },
    /// The submission CSV text comes alongside as bytes.
    Predictions {
        preview: Vec<DigitImage>,
        rows: usize,
    },
    /// A model became current; its model file comes alongside, byte for byte what a download
    /// of the current model must give (a loaded file as it came, a trained model as saved).
    ModelReady(Box<ModelInfo>),
    /// The running training run's best weights so far, as a model file alongside (a new best
    /// epoch was validated); they are not the current model (yet).
    Checkpoint {
        epoch: usize,
        file_name: String,
        val_accuracy: Option<f64>,
    },
    /// A finished run's best weights are much worse than the current model's, so they did not
    /// replace it; the model file comes alongside for the user to adopt (as `LoadModel` with
    /// source `Trained`) or not.
    RunKept {
        model: Box<ModelInfo>,
        /// The current model's recorded validation accuracy it was compared with.
        current_val_accuracy: f64,
    },
    /// The worker's wasm memory, reported after each epoch (it should stay flat).
    WorkerMemory {
        wasm_bytes: u64,
    },
    /// Something the user asked for cannot be done: which operation, why and what to do.
    Error(Failure),
}

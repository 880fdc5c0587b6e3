//! Why something the user asked for failed, as data: which [`Operation`] and what [`Problem`].
//! The page decides what a failure changes from these types (never from a message's text) and
//! shows [`Failure`]'s `Display`, which names the cause and a way forward.

use serde::{Deserialize, Serialize};

use super::DataRole;
use crate::data::csv::CsvError;
use crate::model::ArchitectureError;
use crate::model_file::ModelFileError;
use crate::training::config::ConfigError;
use crate::training::events::TrainFailure;

/// What was being done when it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operation {
    /// Starting the worker or talking to it.
    Worker,
    LoadData(DataRole),
    Samples,
    AugmentPreview,
    /// Reading the Train panel's settings (on the page, before anything is sent).
    TrainSettings,
    Train,
    /// Saving the best weights while training runs.
    Checkpoint,
    LoadModel,
    /// Combining model files into an ensemble.
    CombineModels,
    SaveModel,
    Classify,
    Activations,
    PredictTest,
    Insights,
    /// Predicting the validation split with a loaded model.
    Evaluate,
    /// Handing a file to the browser's downloads.
    Download,
    /// The browser's storage (IndexedDB).
    Storage,
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Worker => "Worker",
            Self::LoadData(DataRole::Train) => "Load train.csv",
            Self::LoadData(DataRole::Test) => "Load test.csv",
            Self::Samples => "Samples",
            Self::AugmentPreview => "Augmentation preview",
            Self::TrainSettings => "Train settings",
            Self::Train => "Train",
            Self::Checkpoint => "Checkpoint",
            Self::LoadModel => "Load model",
            Self::CombineModels => "Combine models",
            Self::SaveModel => "Save model",
            Self::Classify => "Classify",
            Self::Activations => "Activations",
            Self::PredictTest => "Predict test.csv",
            Self::Insights => "Insights",
            Self::Evaluate => "Evaluate",
            Self::Download => "Download",
            Self::Storage => "Storage",
        })
    }
}

/// What has to exist before an operation can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prerequisite {
    Device,
    TrainData,
    TestData,
    Model,
    /// Validation predictions (from training, or from evaluating a model on train.csv).
    Validation,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum Problem {
    #[error("{}", needs_message(*.0))]
    Needs(Prerequisite),
    /// The operation would change what a running training run is using.
    #[error("a training run is using the loaded data and model: stop it first")]
    TrainingInProgress,
    /// Boxed: a CSV error is large, and failures travel in every `Result` of the page.
    #[error("{0}")]
    Csv(Box<CsvError>),
    #[error("{0}")]
    ModelFile(ModelFileError),
    #[error("{0}")]
    Architecture(ArchitectureError),
    #[error("{field}: {problem}")]
    Settings { field: String, problem: String },
    #[error("{0}")]
    Train(TrainFailure),
    /// Computing on or reading from the device failed.
    #[error("the compute device failed ({0}); reload the page to retry, or train on the CPU")]
    Device(String),
    /// A request the page built is out of range (an image index, a drawing's size).
    #[error("{0}")]
    Input(String),
    /// The worker's wasm trapped (a panic or a lost GPU device) and was replaced.
    #[error(
        "the background worker stopped ({0}). A fresh one is starting, with the files it had \
         loaded and the current model saved in this browser."
    )]
    WorkerCrashed(String),
    #[error(
        "the background worker could not start ({0}); this browser may not support module workers"
    )]
    WorkerUnavailable(String),
    /// The worker crashed this many times in one tab: no further one is started.
    #[error(
        "the background worker stopped {0} times in this tab, so no new one is started: reload \
         the page (the models kept in this browser stay)"
    )]
    WorkerGaveUp(u32),
    /// A message between page and worker could not be decoded (a version mismatch or a bug).
    #[error("an unreadable message ({0}); reload the page")]
    Unreadable(String),
    /// A browser API failed (reading a file, starting a download, storage).
    #[error("{0}")]
    Browser(String),
}

/// A recipe the trainer refused: the field it names and why.
impl From<ConfigError> for Problem {
    fn from(error: ConfigError) -> Self {
        Problem::Settings {
            field: error.field.to_string(),
            problem: error.problem,
        }
    }
}

fn needs_message(prerequisite: Prerequisite) -> &'static str {
    match prerequisite {
        Prerequisite::Device => "the compute device is not ready yet",
        Prerequisite::TrainData => "load train.csv first (Data tab)",
        Prerequisite::TestData => "load test.csv first (Data tab)",
        Prerequisite::Model => "no model is loaded yet: train one or load a model file",
        Prerequisite::Validation => {
            "train a model (or evaluate one on train.csv) to see validation insights"
        }
    }
}

/// An operation that failed and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{operation}: {problem}")]
pub struct Failure {
    pub operation: Operation,
    pub problem: Problem,
}

impl Failure {
    pub fn new(operation: Operation, problem: Problem) -> Self {
        Self { operation, problem }
    }

    pub fn needs(operation: Operation, prerequisite: Prerequisite) -> Self {
        Self::new(operation, Problem::Needs(prerequisite))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_names_the_operation_and_the_way_forward() {
        let failure = Failure::needs(Operation::PredictTest, Prerequisite::TestData);
        assert_eq!(
            failure.to_string(),
            "Predict test.csv: load test.csv first (Data tab)"
        );
        let failure = Failure::new(
            Operation::Train,
            Problem::Train(TrainFailure::Diverged {
                epoch: 0,
                batch: 3,
                loss: f64::NAN,
            }),
        );
        assert!(failure.to_string().contains("lower learning rate"));
    }
}

//! What training reports, as plain serialisable messages (the UI's worker forwards them as they
//! are; the CLI prints them).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TrainEvent {
    Started(StartInfo),
    Batch(BatchMetrics),
    Epoch(EpochSummary),
    LearningRateChanged {
        epoch: usize,
        from: f64,
        to: f64,
    },
    CheckpointSaved {
        epoch: usize,
        monitor: String,
        value: f64,
    },
    EarlyStopped {
        epoch: usize,
        best_epoch: Option<usize>,
    },
    Finished(FinishInfo),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StartInfo {
    pub device: String,
    pub train_rows: usize,
    pub validation_rows: usize,
    pub batches_per_epoch: usize,
    pub epochs: usize,
    pub parameters: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchMetrics {
    /// 0-based epoch and batch.
    pub epoch: usize,
    pub batch: usize,
    pub batches: usize,
    pub size: usize,
    pub loss: f64,
    pub accuracy: f64,
    pub images_per_second: f64,
    pub learning_rate: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochSummary {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    /// `None` when there is no validation split.
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    pub learning_rate: f64,
    pub seconds: f64,
    pub images_per_second: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FinishReason {
    Completed,
    EarlyStopped,
    Cancelled,
    /// The run could not go on ([`FinishInfo::failure`] says why); the best validated weights
    /// so far, if any, are kept.
    Failed,
}

/// Why a run stopped early with [`FinishReason::Failed`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum TrainFailure {
    /// The loss became NaN or infinite (0-based epoch and batch).
    #[error(
        "the loss became {loss} at epoch {} batch {} (the run diverged): try a lower learning rate",
        epoch + 1,
        batch + 1
    )]
    Diverged {
        epoch: usize,
        batch: usize,
        loss: f64,
    },
    /// An epoch ended with weights whose outputs (validation loss, or the loss on training
    /// rows without validation) are NaN or infinite.
    #[error(
        "the weights gave NaN or infinite outputs after epoch {} (the run diverged): try a \
         lower learning rate",
        epoch + 1
    )]
    WeightsNotFinite { epoch: usize },
    /// Computing on or reading from the device failed (e.g. a lost GPU).
    #[error("the compute device failed: {0}")]
    Device(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinishInfo {
    pub reason: FinishReason,
    /// Set when `reason` is [`FinishReason::Failed`].
    pub failure: Option<TrainFailure>,
    pub epochs_run: usize,
    pub best_epoch: Option<usize>,
    pub best_val_accuracy: Option<f64>,
    pub best_val_loss: Option<f64>,
    /// Whether the run has weights to keep: an epoch that ended with finite weights and
    /// validation (false for a run that failed or was stopped before that).
    pub weights_kept: bool,
    pub seconds: f64,
}

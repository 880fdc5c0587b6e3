//! The run history: every training run started in this browser, kept with its recipe, device,
//! per-epoch metrics, duration and outcome, and the id of its model in the library. Plain
//! Rust: `history_storage.rs` keeps the records in `localStorage` (one key per run, so two
//! tabs never overwrite each other's), the Runs tab sorts, selects and overlays them.

use std::cmp::Ordering;

use digit_lab::model::Preset;
use digit_lab::protocol::Reply;
use digit_lab::training::config::TrainConfig;
use digit_lab::training::events::{EpochSummary, FinishInfo, StartInfo, TrainEvent};
use serde::{Deserialize, Serialize};

use super::run::duration;

/// One training run as kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    /// The id of its entry in the model library (`run-<ms>-<tab>`): its best weights, once a
    /// checkpoint was written.
    pub id: String,
    /// Shown as "run N": one more than the highest number kept when it started.
    pub number: u32,
    /// When it started (milliseconds since the Unix epoch).
    pub started: f64,
    pub preset: Preset,
    pub config: TrainConfig,
    /// The training file's name.
    pub data: String,
    pub device: String,
    pub train_rows: usize,
    pub validation_rows: usize,
    pub epochs: Vec<EpochSummary>,
    /// `None` while it runs, or when the page or the worker stopped before it finished.
    pub finish: Option<FinishInfo>,
}

impl RunRecord {
    pub fn label(&self) -> String {
        format!("run {} · {}", self.number, self.preset.id())
    }

    /// The best validation accuracy of its epochs (what its kept weights reach).
    pub fn best_accuracy(&self) -> Option<f64> {
        self.finish
            .as_ref()
            .and_then(|f| f.best_val_accuracy)
            .or_else(|| {
                self.epochs
                    .iter()
                    .filter_map(|e| e.val_accuracy)
                    .max_by(f64::total_cmp)
            })
    }

    /// Seconds spent training: the finished run's own figure, else its epochs' sum.
    pub fn seconds(&self) -> f64 {
        self.finish.as_ref().map_or_else(
            || self.epochs.iter().map(|e| e.seconds).sum(),
            |f| f.seconds,
        )
    }

    pub fn outcome(&self, active: bool) -> String {
        match (&self.finish, active) {
            (Some(f), _) => match &f.failure {
                Some(failure) => format!("{:?}: {failure}", f.reason),
                None => format!("{:?}", f.reason),
            },
            (None, true) => "running".into(),
            (None, false) => "interrupted (the page or its worker stopped)".into(),
        }
    }

    pub fn duration_text(&self) -> String {
        duration(self.seconds())
    }

    /// The per-epoch values of a metric, at 1-based epochs.
    pub fn curve(&self, metric: HistoryMetric) -> Vec<(f64, f64)> {
        self.epochs
            .iter()
            .filter_map(|e| metric.of(e).map(|v| ((e.epoch + 1) as f64, v)))
            .collect()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum HistoryMetric {
    #[default]
    ValAccuracy,
    ValLoss,
    TrainAccuracy,
    TrainLoss,
}

impl HistoryMetric {
    pub const ALL: [HistoryMetric; 4] = [
        HistoryMetric::ValAccuracy,
        HistoryMetric::ValLoss,
        HistoryMetric::TrainAccuracy,
        HistoryMetric::TrainLoss,
    ];

    pub fn id(self) -> &'static str {
        match self {
            HistoryMetric::ValAccuracy => "val-accuracy",
            HistoryMetric::ValLoss => "val-loss",
            HistoryMetric::TrainAccuracy => "train-accuracy",
            HistoryMetric::TrainLoss => "train-loss",
        }
    }

    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.id() == id)
    }

    pub fn title(self) -> &'static str {
        match self {
            HistoryMetric::ValAccuracy => "validation accuracy",
            HistoryMetric::ValLoss => "validation loss",
            HistoryMetric::TrainAccuracy => "train accuracy",
            HistoryMetric::TrainLoss => "train loss",
        }
    }

    pub fn is_accuracy(self) -> bool {
        matches!(
            self,
            HistoryMetric::ValAccuracy | HistoryMetric::TrainAccuracy
        )
    }

    fn of(self, e: &EpochSummary) -> Option<f64> {
        match self {
            HistoryMetric::ValAccuracy => e.val_accuracy,
            HistoryMetric::ValLoss => e.val_loss,
            HistoryMetric::TrainAccuracy => Some(e.train_accuracy),
            HistoryMetric::TrainLoss => Some(e.train_loss),
        }
    }
}

/// The table's columns that sort.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortKey {
    #[default]
    Started,
    Model,
    Epochs,
    Accuracy,
    Duration,
    Device,
}

impl SortKey {
    pub fn id(self) -> &'static str {
        match self {
            SortKey::Started => "started",
            SortKey::Model => "model",
            SortKey::Epochs => "epochs",
            SortKey::Accuracy => "accuracy",
            SortKey::Duration => "duration",
            SortKey::Device => "device",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            SortKey::Started => "started",
            SortKey::Model => "model",
            SortKey::Epochs => "epochs",
            SortKey::Accuracy => "best val accuracy",
            SortKey::Duration => "duration",
            SortKey::Device => "device",
        }
    }

    fn compare(self, a: &RunRecord, b: &RunRecord) -> Ordering {
        match self {
            SortKey::Started => a.started.total_cmp(&b.started),
            SortKey::Model => a.preset.id().cmp(b.preset.id()),
            SortKey::Epochs => a.epochs.len().cmp(&b.epochs.len()),
            // A run without a validation figure counts as the lowest.
            SortKey::Accuracy => match (a.best_accuracy(), b.best_accuracy()) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (x, y) => x.is_some().cmp(&y.is_some()),
            },
            SortKey::Duration => a.seconds().total_cmp(&b.seconds()),
            SortKey::Device => a.device.cmp(&b.device),
        }
    }
}

/// What was asked for when Train was pressed: the worker's `Started` reply completes it.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedRun {
    pub preset: Preset,
    pub config: TrainConfig,
    pub data: String,
}

/// The Runs tab's choices, kept across reloads with the records.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryView {
    /// Runs whose curves are overlaid, in the order ticked.
    pub selected: Vec<String>,
    pub metric: HistoryMetric,
}

/// Curves overlaid on one chart at most (more lines cannot be told apart).
pub const MAX_OVERLAID: usize = 8;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistoryState {
    /// In the order read or started.
    pub records: Vec<RunRecord>,
    pub view: HistoryView,
    pub sort: SortKey,
    pub descending: bool,
    /// The run in progress in this tab.
    pub active: Option<String>,
    planned: Option<PlannedRun>,
}

impl HistoryState {
    pub fn new() -> Self {
        Self {
            descending: true,
            ..Self::default()
        }
    }

    /// What storage held at start-up (other tabs' runs included).
    pub fn listed(&mut self, records: Vec<RunRecord>, view: HistoryView) {
        self.records = records;
        self.view = view;
        let ids: Vec<String> = self.records.iter().map(|r| r.id.clone()).collect();
        self.view.selected.retain(|id| ids.contains(id));
    }

    pub fn record(&self, id: &str) -> Option<&RunRecord> {
        self.records.iter().find(|r| r.id == id)
    }

    /// Train was pressed with this recipe.
    pub fn planned(&mut self, run: PlannedRun) {
        self.planned = Some(run);
    }

    /// Whether [`HistoryState::observe`] wants this reply (the page clones only those).
    pub fn concerns(reply: &Reply) -> bool {
        matches!(
            reply,
            Reply::Train(TrainEvent::Started(_) | TrainEvent::Epoch(_) | TrainEvent::Finished(_))
                | Reply::WorkerCrashed { .. }
        )
    }

    /// Fold a reply in (`model`: the library's entry id for the run, `now`: the wall clock);
    /// returns the record to write when one changed.
    pub fn observe(&mut self, reply: &Reply, model: Option<&str>, now: f64) -> Option<RunRecord> {
        match reply {
            Reply::Train(TrainEvent::Started(start)) => self.begin(start, model?, now),
            Reply::Train(TrainEvent::Epoch(summary)) => {
                let record = self.active_record()?;
                record.epochs.push(summary.clone());
                Some(record.clone())
            }
            Reply::Train(TrainEvent::Finished(info)) => {
                let record = self.active_record()?;
                record.finish = Some(info.clone());
                let record = record.clone();
                self.active = None;
                Some(record)
            }
            // The run died with its worker: its record stays, marked interrupted.
            Reply::WorkerCrashed { .. } => {
                self.active = None;
                None
            }
            _ => None,
        }
    }

    fn begin(&mut self, start: &StartInfo, id: &str, now: f64) -> Option<RunRecord> {
        let planned = self.planned.take()?;
        let number = self.records.iter().map(|r| r.number).max().unwrap_or(0) + 1;
        let record = RunRecord {
            id: id.to_string(),
            number,
            started: now,
            preset: planned.preset,
            config: planned.config,
            data: planned.data,
            device: start.device.clone(),
            train_rows: start.train_rows,
            validation_rows: start.validation_rows,
            epochs: Vec::new(),
            finish: None,
        };
        self.records.retain(|r| r.id != id);
        self.records.push(record.clone());
        self.active = Some(id.to_string());
        Some(record)
    }

    fn active_record(&mut self) -> Option<&mut RunRecord> {
        let id = self.active.as_deref()?;
        self.records.iter_mut().find(|r| r.id == id)
    }

    /// The records in the table's order.
    pub fn sorted(&self) -> Vec<&RunRecord> {
        let mut rows: Vec<&RunRecord> = self.records.iter().collect();
        rows.sort_by(|a, b| {
            let order = self.sort.compare(a, b).then(a.number.cmp(&b.number));
            if self.descending {
                order.reverse()
            } else {
                order
            }
        });
        rows
    }

    /// A column header was clicked: sort by it, or flip the direction when it already sorts.
    pub fn sort_by(&mut self, key: SortKey) {
        if self.sort == key {
            self.descending = !self.descending;
        } else {
            self.sort = key;
            self.descending = true;
        }
    }

    pub fn is_selected(&self, id: &str) -> bool {
        self.view.selected.iter().any(|s| s == id)
    }

    /// Tick or untick a run for the overlay; false when it was refused (already
    /// [`MAX_OVERLAID`] ticked, or no such run).
    pub fn toggle_selected(&mut self, id: &str) -> bool {
        if let Some(i) = self.view.selected.iter().position(|s| s == id) {
            self.view.selected.remove(i);
            return true;
        }
        if self.record(id).is_none() || self.view.selected.len() >= MAX_OVERLAID {
            return false;
        }
        self.view.selected.push(id.to_string());
        true
    }

    /// The ticked runs, in the order ticked.
    pub fn overlaid(&self) -> Vec<&RunRecord> {
        self.view
            .selected
            .iter()
            .filter_map(|id| self.record(id))
            .collect()
    }

    /// Forget a run (its model stays in the library); the run in progress stays.
    pub fn delete(&mut self, id: &str) -> bool {
        if self.active.as_deref() == Some(id) || self.record(id).is_none() {
            return false;
        }
        self.records.retain(|r| r.id != id);
        self.view.selected.retain(|s| s != id);
        true
    }
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;

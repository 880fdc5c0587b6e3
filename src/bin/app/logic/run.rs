//! The training run as the page shows it: status, smoothed per-batch curves, epochs, speed,
//! progress and the time left.

use std::collections::VecDeque;

use digit_lab::protocol::{Failure, Operation, Reply};
use digit_lab::training::events::{BatchMetrics, EpochSummary, FinishInfo, StartInfo, TrainEvent};

use super::{Feature, Incoming};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RunStatus {
    #[default]
    Idle,
    /// Train was pressed; the worker has not started the run yet.
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

/// Exponential smoothing of the per-batch curves (the raw values are noisy).
const SMOOTHING: f64 = 0.9;
/// Batches averaged in the images/s reading (a single small last batch would mislead).
const RECENT_BATCHES: usize = 20;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunState {
    pub status: RunStatus,
    pub start: Option<StartInfo>,
    pub batches: Vec<BatchPoint>,
    pub last_batch: Option<BatchMetrics>,
    pub epochs: Vec<EpochSummary>,
    pub best_epoch: Option<usize>,
    pub finish: Option<FinishInfo>,
    /// The finished run's weights were far worse than the current model's: they were offered
    /// instead of made current.
    pub offered: bool,
    /// When the run started, for the ETA.
    started_at_ms: f64,
    /// (images, seconds) of the latest batches.
    recent: VecDeque<(usize, f64)>,
}

impl RunState {
    /// What became of the finished run's weights, for its status line.
    pub fn outcome(&self) -> Option<String> {
        let finish = self.finish.as_ref()?;
        let failure = finish.failure.as_ref().map(|f| format!(" {f}."));
        let failure = failure.unwrap_or_default();
        Some(if !finish.weights_kept {
            format!(
                "Finished ({:?}) after {} epochs.{failure} No epoch ended with valid weights, \
                 so the current model is unchanged.",
                finish.reason, finish.epochs_run
            )
        } else {
            let best = match (finish.best_epoch, finish.best_val_accuracy) {
                (Some(epoch), Some(accuracy)) => format!(
                    "best epoch {} (validation accuracy {:.2}%)",
                    epoch + 1,
                    accuracy * 100.0
                ),
                _ => "no validation split, so the last epoch's weights".to_string(),
            };
            let fate = if self.offered {
                "They are far worse than the current model, which stays current unless you \
                 choose them (Model tab)."
            } else {
                "The best weights are the current model."
            };
            format!(
                "Finished ({:?}) after {} epochs in {}; {best}.{failure} {fate}",
                finish.reason,
                finish.epochs_run,
                duration(finish.seconds)
            )
        })
    }

    pub fn is_busy(&self) -> bool {
        matches!(
            self.status,
            RunStatus::Starting | RunStatus::Running | RunStatus::Paused
        )
    }

    /// Train was pressed and the command sent.
    pub fn starting(&mut self) {
        self.status = RunStatus::Starting;
    }

    pub fn images_per_second(&self) -> f64 {
        let (images, seconds) = self
            .recent
            .iter()
            .fold((0, 0.0), |(i, s), (images, seconds)| {
                (i + images, s + seconds)
            });
        images as f64 / seconds.max(1e-9)
    }

    /// Batches done and planned over the whole run (64-bit: usize is 32 bits in the page, and
    /// the worker's numbers are not to be trusted to fit).
    fn batches_done_of(&self) -> Option<(u64, u64)> {
        let (start, batch) = (self.start.as_ref()?, self.last_batch.as_ref()?);
        let wide = |n: usize| n as u64;
        let done = wide(batch.epoch)
            .saturating_mul(wide(batch.batches))
            .saturating_add(wide(batch.batch) + 1);
        let total = wide(start.epochs).saturating_mul(wide(start.batches_per_epoch));
        Some((done, total.max(1)))
    }

    pub fn fraction(&self) -> f64 {
        self.batches_done_of()
            .map_or(0.0, |(done, total)| done as f64 / total as f64)
    }

    /// Seconds left at the pace so far (the planned epochs; early stopping may end sooner).
    pub fn eta_seconds(&self, now_ms: f64) -> Option<f64> {
        let (done, total) = self.batches_done_of()?;
        let elapsed = (now_ms - self.started_at_ms) / 1000.0;
        Some(elapsed / done as f64 * total.saturating_sub(done) as f64)
    }

    /// The progress bar's line.
    pub fn progress_label(&self, now_ms: f64) -> String {
        let (Some(start), Some(b)) = (&self.start, &self.last_batch) else {
            return match self.status {
                RunStatus::Starting => {
                    "starting… (the first batches compile GPU kernels)".to_string()
                }
                _ => "not training".to_string(),
            };
        };
        let eta = match (self.status, self.eta_seconds(now_ms)) {
            (RunStatus::Finished, _) | (_, None) => "done".to_string(),
            (_, Some(seconds)) => format!("ETA {}", duration(seconds)),
        };
        format!(
            "epoch {}/{} · batch {}/{} · {:.0} img/s · lr {:.2e} · {eta}",
            b.epoch + 1,
            start.epochs,
            b.batch + 1,
            b.batches,
            self.images_per_second(),
            b.learning_rate
        )
    }

    fn apply_event(&mut self, event: &TrainEvent, now_ms: f64) {
        match event {
            TrainEvent::Started(start) => {
                *self = RunState {
                    status: RunStatus::Running,
                    start: Some(start.clone()),
                    started_at_ms: now_ms,
                    ..RunState::default()
                };
            }
            TrainEvent::Batch(batch) => {
                let epoch = batch.epoch as f64 + (batch.batch + 1) as f64 / batch.batches as f64;
                let smooth = |last: f64, new: f64| SMOOTHING * last + (1.0 - SMOOTHING) * new;
                let point = match self.batches.last() {
                    Some(last) => BatchPoint {
                        epoch,
                        loss: smooth(last.loss, batch.loss),
                        accuracy: smooth(last.accuracy, batch.accuracy),
                    },
                    None => BatchPoint {
                        epoch,
                        loss: batch.loss,
                        accuracy: batch.accuracy,
                    },
                };
                self.batches.push(point);
                if self.recent.len() == RECENT_BATCHES {
                    self.recent.pop_front();
                }
                let seconds = batch.size as f64 / batch.images_per_second.max(1e-9);
                self.recent.push_back((batch.size, seconds));
                self.last_batch = Some(batch.clone());
            }
            TrainEvent::Epoch(summary) => self.epochs.push(summary.clone()),
            TrainEvent::CheckpointSaved { epoch, .. } => self.best_epoch = Some(*epoch),
            TrainEvent::LearningRateChanged { .. } | TrainEvent::EarlyStopped { .. } => {}
            TrainEvent::Finished(info) => {
                self.status = RunStatus::Finished;
                self.finish = Some(info.clone());
            }
        }
    }
}

impl Feature for RunState {
    fn apply(&mut self, incoming: &Incoming) -> bool {
        match incoming.reply {
            Reply::Train(event) => self.apply_event(event, incoming.now_ms),
            Reply::RunKept { .. } => self.offered = true,
            Reply::Paused => self.status = RunStatus::Paused,
            Reply::Resumed => self.status = RunStatus::Running,
            // A run that could not start (no data, bad settings) leaves the controls usable.
            Reply::Error(Failure {
                operation: Operation::Train,
                ..
            }) if self.status == RunStatus::Starting => self.status = RunStatus::Idle,
            // The run died with the worker; what it drew stays on the charts.
            Reply::WorkerCrashed { .. } if self.status != RunStatus::Finished => {
                self.status = RunStatus::Idle
            }
            _ => return false,
        }
        true
    }
}

/// "42s", "3m07s", "1h05m".
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s / 60 % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use digit_lab::protocol::{Prerequisite, Problem};

    fn started(epochs: usize, batches_per_epoch: usize) -> Reply {
        Reply::Train(TrainEvent::Started(StartInfo {
            device: "CPU".into(),
            train_rows: 640,
            validation_rows: 64,
            batches_per_epoch,
            epochs,
            parameters: 1000,
        }))
    }

    fn batch(epoch: usize, batch: usize, loss: f64, images_per_second: f64) -> Reply {
        Reply::Train(TrainEvent::Batch(BatchMetrics {
            epoch,
            batch,
            batches: 10,
            size: 64,
            loss,
            accuracy: 1.0 - loss,
            images_per_second,
            learning_rate: 1e-3,
        }))
    }

    #[test]
    fn batches_are_smoothed_and_the_eta_follows_the_pace() {
        let mut run = RunState::default();
        run.starting();
        run.apply(&Incoming::new(&started(2, 10), None, 1000.0));
        assert_eq!(run.status, RunStatus::Running);
        run.apply(&Incoming::new(&batch(0, 0, 1.0, 640.0), None, 1100.0));
        run.apply(&Incoming::new(&batch(0, 1, 0.0, 64.0), None, 2000.0));
        let last = run.batches[1];
        assert!((last.loss - 0.9).abs() < 1e-12, "0.9 * 1.0 + 0.1 * 0.0");
        assert!((last.epoch - 0.2).abs() < 1e-12);
        // 128 images in 0.1 s + 1 s.
        assert!((run.images_per_second() - 128.0 / 1.1).abs() < 1e-9);
        assert!((run.fraction() - 0.1).abs() < 1e-12);
        // 2 of 20 batches in 1 s: 18 more take 9 s.
        assert!((run.eta_seconds(2000.0).unwrap() - 9.0).abs() < 1e-9);
        assert!(run.progress_label(2000.0).contains("batch 2/10"));
        assert!(run.progress_label(2000.0).ends_with("ETA 9s"));
    }

    #[test]
    fn progress_over_huge_counts_does_not_overflow() {
        let mut run = RunState::default();
        run.apply(&Incoming::new(
            &started(usize::MAX, usize::MAX / 2),
            None,
            0.0,
        ));
        run.apply(&Incoming::new(
            &batch(usize::MAX - 1, 9, 0.5, 64.0),
            None,
            10.0,
        ));
        let fraction = run.fraction();
        assert!((0.0..=1.0).contains(&fraction), "{fraction}");
        assert!(run.eta_seconds(20.0).is_some_and(f64::is_finite));
    }

    #[test]
    fn a_finished_run_says_what_became_of_its_weights() {
        use digit_lab::training::events::{FinishReason, TrainFailure};
        let finished = |weights_kept, failure| {
            Reply::Train(TrainEvent::Finished(FinishInfo {
                reason: FinishReason::Failed,
                failure,
                epochs_run: 0,
                best_epoch: None,
                best_val_accuracy: None,
                best_val_loss: None,
                weights_kept,
                seconds: 1.0,
            }))
        };
        let mut run = RunState::default();
        let diverged = TrainFailure::Diverged {
            epoch: 0,
            batch: 1,
            loss: f64::NAN,
        };
        run.apply(&Incoming::new(&finished(false, Some(diverged)), None, 0.0));
        let outcome = run.outcome().unwrap();
        assert!(outcome.contains("try a lower learning rate"), "{outcome}");
        assert!(outcome.contains("current model is unchanged"), "{outcome}");
        run.apply(&Incoming::new(&finished(true, None), None, 0.0));
        assert!(
            run.outcome()
                .unwrap()
                .ends_with("The best weights are the current model.")
        );
    }

    #[test]
    fn a_run_that_cannot_start_frees_the_controls() {
        let mut run = RunState::default();
        run.starting();
        assert!(run.is_busy());
        let failed = Reply::Error(Failure::needs(Operation::Train, Prerequisite::TrainData));
        assert!(run.apply(&Incoming::new(&failed, None, 0.0)));
        assert_eq!(run.status, RunStatus::Idle);
        let other = Reply::Error(Failure::new(
            Operation::Classify,
            Problem::Input("x".into()),
        ));
        run.starting();
        assert!(!run.apply(&Incoming::new(&other, None, 0.0)));
        assert_eq!(run.status, RunStatus::Starting);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(42.4), "42s");
        assert_eq!(duration(187.0), "3m07s");
        assert_eq!(duration(3900.0), "1h05m");
        assert_eq!(duration(-3.0), "0s");
    }
}

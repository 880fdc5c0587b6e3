//! The training loop itself: [`Trainer`] and its per-epoch state.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::ExecutionError;
use burn::tensor::Transaction;
use futures::Stream;
use futures::future::{MaybeDone, maybe_done};
use futures::task::{Context, noop_waker_ref};
use web_time::Instant;

use super::config::{ConfigError, TrainConfig};
use super::events::*;
use super::optim;
use super::schedule::{BestTracker, EarlyStopping, Plateau, ValMetrics};
use crate::augment::{augment_batch, draw_matrices};
use crate::data::csv::IMAGE_SIDE;
use crate::data::dataset::{Digits, Split, batches, epoch_order};
use crate::evaluation::metrics::loss_and_accuracy;
use crate::evaluation::predict::predict_probabilities;
use crate::model::{DeviceImages, DigitNet, cross_entropy_and_correct, seed_dropout};
use crate::rng::Rng;

/// Batch size for validation passes (inference only, so larger than training's).
pub const EVAL_BATCH_SIZE: usize = 500;

/// Batches queued on the device beyond the one whose loss the host is waiting for: with one,
/// the GPU already runs the next batch while the previous one's loss travels back, so its
/// queue never runs dry between batches (in the browser a read costs a round trip through the
/// page's event loop). The reported batch is then one behind the newest step.
const BATCHES_AHEAD: usize = 1;

type BatchRead = Pin<Box<dyn Future<Output = Result<Vec<TensorData>, ExecutionError>> + Send>>;

/// A batch whose step is queued on the device, with the read of its loss and correct count
/// under way.
struct InFlightBatch {
    read: MaybeDone<BatchRead>,
    batch: usize,
    size: usize,
    learning_rate: f64,
    queued_at: Instant,
}

/// Cancels a running [`Trainer`] from elsewhere (the UI's stop button, Ctrl-C).
#[derive(Clone, Debug, Default)]
pub struct CancelHandle(Arc<AtomicBool>);

impl CancelHandle {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Validation probabilities of the latest epoch, for the insight views.
#[derive(Clone, Debug, Default)]
pub struct ValidationSnapshot {
    pub epoch: usize,
    pub probabilities: Vec<f32>,
}

pub struct Trainer {
    config: TrainConfig,
    device: Device,
    device_name: String,
    model: DigitNet,
    optimizer: ModuleOptimizer,
    data: Arc<Digits>,
    /// The training set on the GPU, uploaded at the first batch (`None` on the CPU).
    device_images: Option<DeviceImages>,
    split: Split,
    augment_rng: Rng,
    learning_rate: f64,
    plateau: Option<Plateau>,
    early_stopping: Option<EarlyStopping>,
    best: BestTracker,
    best_model: Option<DigitNet>,
    best_metrics: Option<ValMetrics>,
    validation: ValidationSnapshot,
    cancel: CancelHandle,
    pending: VecDeque<TrainEvent>,
    in_flight: VecDeque<InFlightBatch>,
    started_at: Option<Instant>,
    epoch: usize,
    epoch_state: EpochState,
    finished: bool,
}

/// Progress through the current epoch; the sums stay on the host (they are the values already
/// read once per batch).
struct EpochState {
    order: Vec<usize>,
    /// Batches reported (their loss read).
    batch: usize,
    /// Batches whose step was queued on the device.
    queued: usize,
    last_report: Option<Instant>,
    loss_sum: f64,
    correct_sum: f64,
    seen: usize,
    started_at: Instant,
}

impl Trainer {
    /// `device` is a plain device (WebGPU, Vulkan, CPU); training runs on its autodiff form.
    pub fn new(
        model: DigitNet,
        data: Arc<Digits>,
        split: Split,
        config: TrainConfig,
        device: Device,
        device_name: String,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        if split.train.is_empty() {
            return Err(ConfigError {
                field: "training data",
                problem: "no training rows: load a train.csv with labelled rows".into(),
            });
        }
        let training_device = device.clone().autodiff();
        training_device.seed(config.training_seed());
        seed_dropout(config.training_seed());
        let model = model.fork(&training_device).train();
        Ok(Self {
            optimizer: optim::build(&config.optimizer),
            augment_rng: Rng::derive(config.training_seed(), 0xA06),
            learning_rate: config.learning_rate,
            plateau: config.plateau.map(Plateau::new),
            early_stopping: config.early_stopping.map(EarlyStopping::new),
            best: BestTracker::new(config.checkpoint_monitor),
            best_model: None,
            best_metrics: None,
            validation: ValidationSnapshot::default(),
            cancel: CancelHandle::default(),
            pending: VecDeque::new(),
            in_flight: VecDeque::new(),
            device_images: None,
            started_at: None,
            epoch: 0,
            epoch_state: EpochState::new(epoch_order(&split.train, config.training_seed(), 0)),
            finished: false,
            config,
            device,
            device_name,
            model,
            data,
            split,
        })
    }

    pub fn cancel_handle(&self) -> CancelHandle {
        self.cancel.clone()
    }

    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    pub fn split(&self) -> &Split {
        &self.split
    }

    pub fn batches_per_epoch(&self) -> usize {
        self.split.train.len().div_ceil(self.config.batch_size)
    }

    /// The rate for batch `batch` of the current epoch: the epoch's rate (after decay and
    /// plateau) times the within-run schedule over every planned batch.
    fn learning_rate_at(&self, batch: usize) -> f64 {
        let (step, total) = self.planned_step(batch);
        self.learning_rate * self.config.schedule.factor(step, total)
    }

    /// Batch `batch` of the current epoch as a step of the planned run: (step, planned steps).
    fn planned_step(&self, batch: usize) -> (usize, usize) {
        let per_epoch = self.batches_per_epoch();
        (
            self.epoch * per_epoch + batch,
            self.config.epochs * per_epoch,
        )
    }

    /// The weights being trained, in inference mode.
    pub fn current_model(&self) -> DigitNet {
        self.model.valid()
    }

    /// The best checkpoint so far: weights of an epoch whose validation (or, without a
    /// validation split, whose loss on the first training rows) was finite. `None` until one
    /// epoch ended so, and after a run that never got there: its weights are not to be kept.
    pub fn best_model(&self) -> Option<DigitNet> {
        self.best_model.clone()
    }

    pub fn best_epoch(&self) -> Option<usize> {
        self.best.epoch
    }

    pub fn best_val_accuracy(&self) -> Option<f64> {
        self.best_metrics.map(|m| m.accuracy)
    }

    pub fn best_val_loss(&self) -> Option<f64> {
        self.best_metrics.map(|m| m.loss)
    }

    /// Optimizer steps queued on the device so far in this run: up to [`BATCHES_AHEAD`] more
    /// than the batches reported.
    pub fn steps_queued(&self) -> usize {
        self.epoch * self.batches_per_epoch() + self.epoch_state.queued
    }

    /// Epochs completed so far.
    pub fn epochs_run(&self) -> usize {
        self.epoch
    }

    pub fn latest_validation(&self) -> &ValidationSnapshot {
        &self.validation
    }

    /// The events as a stream; it ends after [`TrainEvent::Finished`].
    pub fn events(&mut self) -> impl Stream<Item = TrainEvent> + '_ {
        futures::stream::unfold(self, |trainer| async move {
            trainer.next_event().await.map(|event| (event, trainer))
        })
    }

    /// Runs at most one batch (or one epoch's validation) and returns the next event.
    pub async fn next_event(&mut self) -> Option<TrainEvent> {
        if let Some(event) = self.pending.pop_front() {
            return Some(event);
        }
        if self.finished {
            return None;
        }
        let Some(started_at) = self.started_at else {
            self.started_at = Some(Instant::now());
            self.epoch_state.started_at = Instant::now();
            return Some(TrainEvent::Started(StartInfo {
                device: self.device_name.clone(),
                train_rows: self.split.train.len(),
                validation_rows: self.split.validation.len(),
                batches_per_epoch: self.batches_per_epoch(),
                epochs: self.config.epochs,
                parameters: self.model.num_params(),
            }));
        };
        if self.cancel.is_cancelled() {
            self.finish(FinishReason::Cancelled, None, started_at);
        } else if self.epoch_state.batch < self.batches_per_epoch() {
            match self.train_batch().await {
                Ok(metrics) => return Some(TrainEvent::Batch(metrics)),
                Err(failure) => self.finish(FinishReason::Failed, Some(failure), started_at),
            }
        } else if let Err(failure) = self.end_epoch(started_at).await {
            self.finish(FinishReason::Failed, Some(failure), started_at);
        }
        self.pending.pop_front()
    }

    /// Reports the oldest queued batch, first queueing batches until [`BATCHES_AHEAD`] more
    /// than it are on the device (or the epoch has none left).
    async fn train_batch(&mut self) -> Result<BatchMetrics, TrainFailure> {
        while self.in_flight.len() <= BATCHES_AHEAD
            && self.epoch_state.queued < self.batches_per_epoch()
        {
            let queued = self.queue_batch();
            self.in_flight.push_back(queued);
        }
        let Some(mut oldest) = self.in_flight.pop_front() else {
            return Err(TrainFailure::Device(
                "no batch was queued for this step".into(),
            ));
        };
        (&mut oldest.read).await;
        let values = Pin::new(&mut oldest.read)
            .take_output()
            .ok_or_else(|| TrainFailure::Device("the batch's loss was read twice".into()))?
            .map_err(|e| TrainFailure::Device(format!("reading the batch loss failed: {e:?}")))?;
        let loss = scalar(&values[0])?;
        let correct = scalar(&values[1])?;
        if !loss.is_finite() {
            return Err(TrainFailure::Diverged {
                epoch: self.epoch,
                batch: oldest.batch,
                loss,
            });
        }
        let size = oldest.size;
        let batches = self.batches_per_epoch();
        let state = &mut self.epoch_state;
        // With batches queued ahead, a batch's time is the time since the previous report.
        let since = state
            .last_report
            .map_or(oldest.queued_at, |t| t.max(oldest.queued_at));
        state.last_report = Some(Instant::now());
        state.loss_sum += loss * size as f64;
        state.correct_sum += correct;
        state.seen += size;
        let metrics = BatchMetrics {
            epoch: self.epoch,
            batch: oldest.batch,
            batches,
            size,
            loss,
            accuracy: correct / size as f64,
            images_per_second: size as f64 / since.elapsed().as_secs_f64().max(1e-9),
            learning_rate: oldest.learning_rate,
        };
        state.batch += 1;
        Ok(metrics)
    }

    /// The augmented images of `rows`: gathered and resampled in one kernel from the training
    /// set kept on the GPU, or built on the host and resampled by Burn's operations (the CPU
    /// path). Both draw the same transforms from the same generator.
    fn batch_images(&mut self, batch: usize, rows: &[usize]) -> Tensor<4> {
        if self.device_images.is_none() && self.epoch_state.queued == 0 && self.epoch == 0 {
            self.device_images = DeviceImages::upload(&self.data, &self.device);
        }
        let (step, total) = self.planned_step(batch);
        let config = &self.config.augmentation_at(step, total);
        if let Some(stored) = &self.device_images {
            let matrices = draw_matrices(config, &mut self.augment_rng, rows.len(), IMAGE_SIDE);
            if let Some(images) = stored.batch(rows, matrices.as_deref()) {
                return images;
            }
        }
        let images = self.data.images_tensor(rows, &self.device);
        augment_batch(images, config, &mut self.augment_rng)
    }

    /// Queues the next batch's forward pass, backward pass and optimizer step, and starts the
    /// read of its loss and correct count without waiting for it.
    fn queue_batch(&mut self) -> InFlightBatch {
        let batch = self.epoch_state.queued;
        let rows: Vec<usize> = batches(&self.epoch_state.order, self.config.batch_size)
            .nth(batch)
            .unwrap_or_default()
            .to_vec();
        let queued_at = Instant::now();
        let training_device = self.device.clone().autodiff();
        // Augmentation needs no gradients: it runs on the plain device, then joins the graph.
        let images = self.batch_images(batch, &rows);
        let labels = self.data.labels_tensor(&rows, &training_device);

        let logits = self.model.forward(images.autodiff());
        let smoothing = self.config.label_smoothing as f32;
        let (loss, correct) = cross_entropy_and_correct(&logits, &labels, smoothing)
            .unwrap_or_else(|| loss_and_correct(logits, labels, smoothing));
        // The loss is read after the optimizer step: reading it before the step held the
        // batch's graph across the await and raised the worker's memory by 10 MB (26.8 -> 36.8
        // MB, CPU path). A non-finite loss still ends the run when it is read, and the weights
        // of that step (and of the one queued behind it) are never kept: only an epoch that
        // ends validated (or with finite weights) becomes the best.
        let loss_tensor = loss.clone().without_autodiff();
        let gradients = GradientsParams::from_grads(loss.backward(), &self.model);
        let learning_rate = self.learning_rate_at(batch);
        self.model = self
            .optimizer
            .step(learning_rate, self.model.clone(), gradients);
        let read: BatchRead = Box::pin(
            Transaction::default()
                .register(loss_tensor)
                .register(correct)
                .execute_async(),
        );
        let mut read = maybe_done(read);
        // The first poll issues the read: its copy goes right behind this batch's kernels and
        // submits them, so the device works on them while the host waits for an older batch.
        let _ = Pin::new(&mut read).poll(&mut Context::from_waker(noop_waker_ref()));
        self.epoch_state.queued += 1;
        InFlightBatch {
            read,
            batch,
            size: rows.len(),
            learning_rate,
            queued_at,
        }
    }

    async fn end_epoch(&mut self, run_started: Instant) -> Result<(), TrainFailure> {
        let epoch = self.epoch;
        let state = &self.epoch_state;
        let seconds = state.started_at.elapsed().as_secs_f64();
        let (train_loss, train_accuracy) = (
            state.loss_sum / state.seen.max(1) as f64,
            state.correct_sum / state.seen.max(1) as f64,
        );
        let images_per_second = state.seen as f64 / seconds.max(1e-9);
        let validation = self.validate().await?;
        self.pending.push_back(TrainEvent::Epoch(EpochSummary {
            epoch,
            train_loss,
            train_accuracy,
            val_loss: validation.map(|v| v.loss),
            val_accuracy: validation.map(|v| v.accuracy),
            learning_rate: self.learning_rate_at(self.batches_per_epoch().saturating_sub(1)),
            seconds,
            images_per_second,
        }));

        let mut stop = false;
        if let Some(metrics) = validation {
            if !(metrics.loss.is_finite() && metrics.accuracy.is_finite()) {
                return Err(TrainFailure::WeightsNotFinite { epoch });
            }
            if self.best.on_epoch_end(epoch, metrics) {
                self.best_model = Some(self.model.valid());
                self.best_metrics = Some(metrics);
                let monitor = self.config.checkpoint_monitor;
                self.pending.push_back(TrainEvent::CheckpointSaved {
                    epoch,
                    monitor: monitor.name().to_string(),
                    value: metrics.get(monitor),
                });
            }
            let before = self.learning_rate;
            if let Some(plateau) = &mut self.plateau {
                self.learning_rate = plateau.on_epoch_end(metrics, self.learning_rate);
            }
            self.learning_rate *= self.config.lr_decay_per_epoch;
            if self.learning_rate != before {
                self.pending.push_back(TrainEvent::LearningRateChanged {
                    epoch,
                    from: before,
                    to: self.learning_rate,
                });
            }
            if let Some(early) = &mut self.early_stopping {
                stop = early.on_epoch_end(metrics);
            }
        } else {
            // Nothing to validate on: an epoch whose weights give finite outputs on (a slice
            // of) the training rows is the best so far.
            if !self.outputs_are_finite().await? {
                return Err(TrainFailure::WeightsNotFinite { epoch });
            }
            self.best_model = Some(self.model.valid());
            self.learning_rate *= self.config.lr_decay_per_epoch;
        }

        self.epoch += 1;
        if stop {
            self.pending.push_back(TrainEvent::EarlyStopped {
                epoch,
                best_epoch: self.best.epoch,
            });
            self.finish(FinishReason::EarlyStopped, None, run_started);
        } else if self.epoch >= self.config.epochs {
            self.finish(FinishReason::Completed, None, run_started);
        } else {
            let order = epoch_order(&self.split.train, self.config.training_seed(), self.epoch);
            self.epoch_state = EpochState::new(order);
        }
        Ok(())
    }

    async fn validate(&mut self) -> Result<Option<ValMetrics>, TrainFailure> {
        if self.split.validation.is_empty() {
            return Ok(None);
        }
        let rows = self.split.validation.clone();
        let (probabilities, loss, accuracy) = self.evaluate(&rows).await?;
        self.validation = ValidationSnapshot {
            epoch: self.epoch,
            probabilities,
        };
        Ok(Some(ValMetrics { loss, accuracy }))
    }

    /// Whether the weights give a finite loss on the first training rows (one inference
    /// batch): the check that stands in for validation when there is none. Finite weights can
    /// still overflow (a step at a huge learning rate), so the outputs are what is checked.
    async fn outputs_are_finite(&self) -> Result<bool, TrainFailure> {
        let rows = &self.split.train[..self.split.train.len().min(EVAL_BATCH_SIZE)];
        Ok(self.evaluate(rows).await?.1.is_finite())
    }

    /// The current weights' probabilities, loss and accuracy on some labelled rows.
    async fn evaluate(&self, rows: &[usize]) -> Result<(Vec<f32>, f64, f64), TrainFailure> {
        let probabilities = predict_probabilities(
            &self.model.valid(),
            &self.data,
            rows,
            &self.device,
            EVAL_BATCH_SIZE,
            None,
            &mut |_, _| {},
        )
        .await
        .map_err(|e| TrainFailure::Device(e.to_string()))?;
        let labels: Vec<u8> = rows
            .iter()
            .map(|&r| self.data.label(r).unwrap_or(0))
            .collect();
        let (loss, accuracy) = loss_and_accuracy(&probabilities, &labels);
        Ok((probabilities, loss, accuracy))
    }

    /// Restore the best weights (Keras' `restore_best_weights`) and queue the final event.
    fn finish(&mut self, reason: FinishReason, failure: Option<TrainFailure>, started_at: Instant) {
        // A step queued behind a failed or cancelled one is not reported.
        self.in_flight.clear();
        if let Some(best) = &self.best_model {
            self.model = best.clone().fork(&self.device.clone().autodiff()).train();
        }
        self.finished = true;
        self.pending.push_back(TrainEvent::Finished(FinishInfo {
            reason,
            failure,
            epochs_run: self.epoch,
            best_epoch: self.best.epoch,
            best_val_accuracy: self.best_metrics.map(|m| m.accuracy),
            best_val_loss: self.best_metrics.map(|m| m.loss),
            weights_kept: self.best_model.is_some(),
            seconds: started_at.elapsed().as_secs_f64(),
        }));
    }
}

impl EpochState {
    fn new(order: Vec<usize>) -> Self {
        Self {
            order,
            batch: 0,
            queued: 0,
            last_report: None,
            loss_sum: 0.0,
            correct_sum: 0.0,
            seen: 0,
            started_at: Instant::now(),
        }
    }
}

/// Burn's cross-entropy (from logits, label smoothing where set) and the number of rows whose
/// argmax is their label: what [`cross_entropy_and_correct`] computes in two launches on the GPU.
fn loss_and_correct(
    logits: Tensor<2>,
    labels: Tensor<1, Int>,
    smoothing: f32,
) -> (Tensor<1>, Tensor<1>) {
    let loss = CrossEntropyLossConfig::new()
        .with_smoothing((smoothing > 0.0).then_some(smoothing))
        .init(&logits.device())
        .forward(logits.clone(), labels.clone());
    let correct = logits
        .without_autodiff()
        .argmax(1)
        .squeeze_dim::<1>(1)
        .equal(labels.without_autodiff())
        .int()
        .sum()
        .float();
    (loss, correct)
}

fn scalar(data: &TensorData) -> Result<f64, TrainFailure> {
    data.iter::<f64>()
        .next()
        .ok_or_else(|| TrainFailure::Device("the device returned an empty result".into()))
}

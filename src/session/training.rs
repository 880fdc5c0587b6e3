//! The session's training run: start it, pause it, advance it one event at a time and make its
//! best weights the current model when it ends.

use super::*;
use crate::training::events::FinishInfo;

/// A finished run whose validation accuracy is this much below the current model's does not
/// replace it without the user's say.
pub const FAR_WORSE: f64 = 0.05;

impl Session {
    pub(super) fn start_training(
        &mut self,
        preset: Preset,
        config: crate::training::config::TrainConfig,
        emit: Emit<'_>,
    ) {
        let operation = Operation::Train;
        let Some(digits) = self.data_for_run(emit) else {
            return;
        };
        let Some(device) = self.device(operation, emit) else {
            return;
        };
        let split = digits.split(config.validation_fraction, config.seed);
        let built = DigitNet::new(
            &preset.architecture(),
            &device.device,
            config.training_seed(),
        )
        .map_err(Problem::Architecture)
        .and_then(|net| {
            Trainer::new(
                net,
                digits.clone(),
                split.clone(),
                config,
                device.device.clone(),
                device.description.clone(),
            )
            .map_err(Problem::from)
        });
        self.begin_run(built, preset, preset.architecture(), 0, emit);
    }

    /// The loaded train.csv, when a run can start: else why not, said.
    pub(super) fn data_for_run(&self, emit: Emit<'_>) -> Option<Arc<Digits>> {
        if self.run.is_some() {
            emit(failed(Operation::Train, Problem::TrainingInProgress), None);
            return None;
        }
        let train = self.train.clone();
        if train.is_none() {
            emit(needs(Operation::Train, Prerequisite::TrainData), None);
        }
        train
    }

    /// Make a built trainer the run in progress (`extra_rows`: its training rows that are not
    /// train.csv's), or say why it could not be built.
    pub(super) fn begin_run(
        &mut self,
        built: Result<Trainer, Problem>,
        preset: Preset,
        architecture: crate::model::Architecture,
        extra_rows: usize,
        emit: Emit<'_>,
    ) {
        match built {
            Ok(trainer) => {
                self.validation = None;
                self.run = Some(TrainRun {
                    trainer,
                    preset,
                    architecture,
                    paused: false,
                    extra_rows,
                })
            }
            Err(problem) => emit(failed(Operation::Train, problem), None),
        }
    }

    pub(super) fn set_paused(&mut self, paused: bool, emit: Emit<'_>) {
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
        if checkpoint
            && let Some(run) = &self.run
            && let Some(best) = run.trainer.best_model()
        {
            let meta = self.trained_meta(run, None);
            let val_accuracy = meta.training.as_ref().and_then(|t| t.val_accuracy);
            match model_file::to_bytes(&best, &meta, Precision::F32).await {
                Ok(bytes) => emit(
                    Reply::Checkpoint {
                        epoch: run.trainer.best_epoch().unwrap_or_default(),
                        file_name: format!("{}-checkpoint.bpk", run.preset),
                        val_accuracy,
                    },
                    Some(bytes),
                ),
                Err(e) => emit(failed(Operation::Checkpoint, Problem::ModelFile(e)), None),
            }
        }
        if let (true, TrainEvent::Finished(info)) = (finished, event) {
            let failure = info.failure.clone();
            self.finish_training_with(Some(info), emit).await;
            if let Some(failure) = failure {
                emit(failed(Operation::Train, Problem::Train(failure)), None);
            }
        }
    }

    pub(super) async fn finish_training(&mut self, emit: Emit<'_>) {
        self.finish_training_with(None, emit).await
    }

    /// The run is over: its best validated weights become the current model, unless they are
    /// far worse than it (then they are offered, not imposed). A run that never validated an
    /// epoch leaves the current model as it was.
    pub(super) async fn finish_training_with(&mut self, info: Option<FinishInfo>, emit: Emit<'_>) {
        let Some(run) = self.run.take() else { return };
        let Some(net) = run.trainer.best_model() else {
            return;
        };
        let meta = self.trained_meta(&run, info.as_ref());
        let bytes = match model_file::to_bytes(&net, &meta, Precision::F32).await {
            Ok(bytes) => bytes,
            Err(e) => return emit(failed(Operation::SaveModel, Problem::ModelFile(e)), None),
        };
        let current = self.model.as_ref().and_then(|m| m.meta.val_accuracy());
        match (meta.val_accuracy(), current) {
            (Some(new), Some(current)) if new < current - FAR_WORSE => emit(
                Reply::RunKept {
                    model: Box::new(model_info(meta, ModelSource::Trained)),
                    current_val_accuracy: current,
                },
                Some(bytes),
            ),
            _ => self.set_model(vec![net], meta, ModelSource::Trained, bytes, emit),
        }
    }

    pub(super) fn trained_meta(&self, run: &TrainRun, info: Option<&FinishInfo>) -> ModelMeta {
        let split = run.trainer.split();
        let summary = TrainingSummary {
            config: run.trainer.config().clone(),
            epochs_run: info.map_or(run.trainer.epochs_run(), |i| i.epochs_run),
            best_epoch: run.trainer.best_epoch(),
            val_accuracy: run.trainer.best_val_accuracy(),
            val_loss: run.trainer.best_val_loss(),
            train_rows: split.train.len() - run.extra_rows,
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
}

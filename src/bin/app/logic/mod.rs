//! The page's state as plain types, one per feature, each folding the worker's replies in
//! itself ([`Feature::apply`]) and offering the few changes the page makes on its own (a run
//! starting, a banner dismissed). No Leptos and no browser here: native unit tests cover it all.
//! `state.rs` wraps each feature in a signal; `effects.rs` performs what [`effect_of`] asks for.

pub mod connection;
pub mod data;
pub mod export;
pub mod handwriting;
pub mod history;
pub mod insights;
pub mod library;
pub mod model;
pub mod notice;
pub mod predict;
pub mod recipe;
pub mod run;
pub mod shortcuts;

use digit_lab::protocol::{Failure, Operation, Reply};
use digit_lab::training::events::TrainEvent;

use library::LibraryEvent;

/// A reply from the worker, with its byte payload and when it arrived.
pub struct Incoming<'a> {
    pub reply: &'a Reply,
    pub bytes: Option<&'a [u8]>,
    /// The page's monotonic clock, in milliseconds.
    pub now_ms: f64,
}

impl<'a> Incoming<'a> {
    pub fn new(reply: &'a Reply, bytes: Option<&'a [u8]>, now_ms: f64) -> Self {
        Self {
            reply,
            bytes,
            now_ms,
        }
    }
}

pub trait Feature {
    /// Fold a reply in; true when something changed (so views that read it update).
    fn apply(&mut self, incoming: &Incoming) -> bool;
}

/// What a reply asks of the world outside the page's state.
#[derive(Debug, PartialEq)]
pub enum Effect {
    /// The worker trapped: replace it (on the CPU) and hand it the files loaded before.
    RestartWorker,
    /// Something the model library keeps or decides (see [`library`]).
    Library(LibraryEvent),
}

/// `bytes` is the reply's payload, handed over (a model file is kept, not copied).
pub fn effect_of(reply: &Reply, bytes: Option<Vec<u8>>) -> Option<Effect> {
    let event = match (reply, bytes) {
        (Reply::WorkerCrashed { .. }, _) => return Some(Effect::RestartWorker),
        (Reply::Train(TrainEvent::Started(_)), _) => LibraryEvent::RunStarted,
        (Reply::Train(TrainEvent::Finished(_)), _) => LibraryEvent::RunFinished,
        (Reply::ModelReady(info), bytes) => LibraryEvent::Ready {
            info: info.clone(),
            bytes,
        },
        (
            Reply::Checkpoint {
                epoch,
                file_name,
                val_accuracy,
            },
            Some(bytes),
        ) => LibraryEvent::Checkpoint {
            file_name: file_name.clone(),
            epoch: *epoch,
            val_accuracy: *val_accuracy,
            bytes,
        },
        (
            Reply::RunKept {
                model,
                current_val_accuracy,
            },
            Some(bytes),
        ) => LibraryEvent::RunKept {
            info: model.clone(),
            current_val_accuracy: *current_val_accuracy,
            bytes,
        },
        (
            Reply::Error(Failure {
                operation: Operation::LoadModel | Operation::CombineModels,
                problem,
            }),
            _,
        ) => LibraryEvent::LoadFailed(problem.clone()),
        _ => return None,
    };
    Some(Effect::Library(event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use digit_lab::protocol::Problem;

    #[test]
    fn a_crash_restarts_the_worker_and_model_files_go_to_the_library() {
        let crash = Reply::WorkerCrashed {
            message: "unreachable".into(),
        };
        assert_eq!(effect_of(&crash, None), Some(Effect::RestartWorker));
        let file = Reply::Checkpoint {
            epoch: 0,
            file_name: "small-checkpoint.bpk".into(),
            val_accuracy: Some(0.9),
        };
        assert_eq!(
            effect_of(&file, Some(vec![1, 2, 3])),
            Some(Effect::Library(LibraryEvent::Checkpoint {
                file_name: "small-checkpoint.bpk".into(),
                epoch: 0,
                val_accuracy: Some(0.9),
                bytes: vec![1, 2, 3],
            }))
        );
        assert_eq!(effect_of(&file, None), None, "no bytes, nothing to keep");
        let refused = Reply::Error(Failure::new(
            Operation::LoadModel,
            Problem::TrainingInProgress,
        ));
        assert_eq!(
            effect_of(&refused, None),
            Some(Effect::Library(LibraryEvent::LoadFailed(
                Problem::TrainingInProgress
            )))
        );
        let other = Reply::Error(Failure::new(Operation::Train, Problem::TrainingInProgress));
        assert_eq!(effect_of(&other, None), None);
        assert_eq!(effect_of(&Reply::Paused, None), None);
    }
}

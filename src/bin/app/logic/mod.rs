//! The page's state as plain types, one per feature, each folding the worker's replies in
//! itself ([`Feature::apply`]) and offering the few changes the page makes on its own (a run
//! starting, a banner dismissed). No Leptos and no browser here: native unit tests cover it all.
//! `state.rs` wraps each feature in a signal; `effects.rs` performs what [`effect_of`] asks for.

pub mod connection;
pub mod data;
pub mod insights;
pub mod model;
pub mod notice;
pub mod predict;
pub mod recipe;
pub mod run;

use digit_lab::protocol::Reply;

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
    /// Keep a model file for download and in the browser's storage.
    StoreModel {
        file_name: String,
        bytes: Vec<u8>,
        checkpoint: bool,
    },
}

/// `bytes` is the reply's payload, handed over (a model file is kept, not copied).
pub fn effect_of(reply: &Reply, bytes: Option<Vec<u8>>) -> Option<Effect> {
    match (reply, bytes) {
        (Reply::WorkerCrashed { .. }, _) => Some(Effect::RestartWorker),
        (
            Reply::ModelFile {
                checkpoint,
                file_name,
            },
            Some(bytes),
        ) => Some(Effect::StoreModel {
            file_name: file_name.clone(),
            bytes,
            checkpoint: *checkpoint,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_restarts_the_worker_and_a_model_file_is_stored() {
        let crash = Reply::WorkerCrashed {
            message: "unreachable".into(),
        };
        assert_eq!(effect_of(&crash, None), Some(Effect::RestartWorker));
        let file = Reply::ModelFile {
            checkpoint: true,
            file_name: "small-checkpoint.bpk".into(),
        };
        assert_eq!(
            effect_of(&file, Some(vec![1, 2, 3])),
            Some(Effect::StoreModel {
                file_name: "small-checkpoint.bpk".into(),
                bytes: vec![1, 2, 3],
                checkpoint: true
            })
        );
        assert_eq!(effect_of(&file, None), None, "no bytes, nothing to store");
        assert_eq!(effect_of(&Reply::Paused, None), None);
    }
}

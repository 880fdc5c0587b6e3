//! The one place where a reply reaches outside the page's state: replacing a crashed worker and
//! keeping model files. [`connect`] wires the worker's replies to the state and here.

use std::rc::Rc;

use crate::logic::Effect;
use crate::state::AppState;
use crate::{storage, worker};

/// Start the worker with its replies folded into `state` and their effects performed.
pub fn connect(state: AppState) {
    worker::spawn(
        state,
        Rc::new(move |reply, bytes| {
            if let Some(effect) = state.apply(reply, bytes) {
                perform(effect);
            }
        }),
    );
}

fn perform(effect: Effect) {
    match effect {
        Effect::RestartWorker => worker::restart(),
        Effect::StoreModel {
            file_name,
            bytes,
            checkpoint,
        } => storage::remember_model(file_name, bytes, checkpoint),
    }
}

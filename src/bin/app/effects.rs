//! The one place where a reply reaches outside the page's state: replacing a crashed worker and
//! keeping model files.

use crate::logic::Effect;
use crate::state::AppState;
use crate::{storage, worker};

pub fn perform(state: AppState, effect: Effect) {
    match effect {
        Effect::RestartWorker => worker::restart(state),
        Effect::StoreModel {
            file_name,
            bytes,
            checkpoint,
        } => storage::remember_model(file_name, bytes, checkpoint),
    }
}

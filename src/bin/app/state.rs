//! The page's state: one signal per feature of [`crate::logic`]. Worker replies enter through
//! [`AppState::apply`] only, which folds them into every feature and returns the side effect
//! they ask for (the caller hands it to `effects`); panels read the signals and send commands.

use digit_lab::protocol::{Failure, Reply};
use leptos::prelude::*;

use crate::logic::connection::Connection;
use crate::logic::data::DataState;
use crate::logic::handwriting::HandwritingState;
use crate::logic::history::HistoryState;
use crate::logic::insights::InsightState;
use crate::logic::library::LibraryState;
use crate::logic::model::ModelState;
use crate::logic::notice::Notice;
use crate::logic::predict::PredictState;
use crate::logic::run::RunState;
use crate::logic::{Effect, Feature, Incoming, effect_of};

#[derive(Clone, Copy)]
pub struct AppState {
    pub connection: RwSignal<Connection>,
    pub data: RwSignal<DataState>,
    pub run: RwSignal<RunState>,
    pub model: RwSignal<ModelState>,
    /// The models kept in this browser; changed by `effects` (not folded like the others: it
    /// takes the model files themselves).
    pub library: RwSignal<LibraryState>,
    pub insights: RwSignal<InsightState>,
    /// Every run started in this browser; changed by `effects` after the library (a record
    /// names its run's library entry).
    pub history: RwSignal<HistoryState>,
    /// The user's labelled drawings and the current model's answers on them.
    pub handwriting: RwSignal<HandwritingState>,
    pub predict: RwSignal<PredictState>,
    pub notice: RwSignal<Notice>,
}

fn fold<T: Feature + Send + Sync + 'static>(signal: RwSignal<T>, incoming: &Incoming) {
    signal.maybe_update(|feature| feature.apply(incoming));
}

impl AppState {
    pub fn new() -> Self {
        Self {
            connection: RwSignal::new(Connection::default()),
            data: RwSignal::new(DataState::default()),
            run: RwSignal::new(RunState::default()),
            model: RwSignal::new(ModelState::default()),
            // A random tag keeps the ids this tab makes apart from another tab's.
            library: RwSignal::new(LibraryState::new(
                (js_sys::Math::random() * f64::from(u32::MAX)) as u32,
            )),
            insights: RwSignal::new(InsightState::default()),
            history: RwSignal::new(HistoryState::new()),
            handwriting: RwSignal::new(crate::handwriting_panel::read_handwriting()),
            predict: RwSignal::new(PredictState::default()),
            notice: RwSignal::new(Notice::default()),
        }
    }

    /// Fold one worker reply into every feature; returns what it asks of the world outside.
    pub fn apply(&self, reply: Reply, bytes: Option<Vec<u8>>) -> Option<Effect> {
        {
            let incoming = Incoming::new(&reply, bytes.as_deref(), now_ms());
            fold(self.connection, &incoming);
            fold(self.data, &incoming);
            fold(self.run, &incoming);
            fold(self.model, &incoming);
            fold(self.insights, &incoming);
            fold(self.handwriting, &incoming);
            fold(self.predict, &incoming);
            fold(self.notice, &incoming);
        }
        effect_of(&reply, bytes)
    }

    /// Show a failure the page found itself.
    pub fn report(&self, failure: Failure) {
        self.notice.update(|n| n.report(failure));
    }
}

/// A monotonic clock in milliseconds (sub-millisecond where the browser allows).
pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or_else(js_sys::Date::now, |p| p.now())
}

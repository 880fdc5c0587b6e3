//! Label test.csv with the current model and download Kaggle's submission.csv.

use digit_lab::protocol::{Command, DataRole};
use leptos::prelude::*;

use crate::logic::predict::tta_description;
use crate::state::AppState;
use crate::widgets::{DigitGrid, ProgressBar, offer_download};
use crate::worker;

#[component]
pub fn PredictPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let tta = RwSignal::new(false);
    let no_test = move || state.data.with(|d| d.test.is_none());
    let no_model = move || state.model.with(|m| m.current.is_none());
    // Memos: the drawing's classification shares this state and changes on every stroke.
    let predictions = Memo::new(move |_| state.predict.with(|p| p.predictions.clone()));
    let progress = Memo::new(move |_| state.predict.with(|p| p.progress));
    let running = move || progress.with(Option::is_some);
    let why_disabled = move || {
        if no_test() {
            "Load test.csv on the Data tab first."
        } else if no_model() {
            "The model is still loading."
        } else {
            ""
        }
    };
    let predict = move |_| {
        let rows = state
            .data
            .with_untracked(|d| d.test.as_ref().map_or(0, |d| d.rows));
        state.predict.update(|p| p.prediction_started(rows));
        worker::send(Command::PredictTest {
            tta: tta.get_untracked(),
        });
    };
    let save = move |_| {
        if let Some(p) = state.predict.with_untracked(|p| p.predictions.clone()) {
            offer_download(state, "submission.csv", p.csv.as_bytes(), "text/csv");
        }
    };
    let fraction = Signal::derive(move || {
        progress
            .get()
            .map_or(0.0, |(done, total)| done as f64 / total.max(1) as f64)
    });
    let label = Signal::derive(move || {
        progress.get().map_or(String::new(), |(done, total)| {
            format!("{done} / {total} digits")
        })
    });
    let download_title = move || {
        if predictions.with(Option::is_none) {
            if no_test() {
                "Load test.csv and predict it first."
            } else {
                "Predict test.csv first."
            }
        } else {
            ""
        }
    };
    let sample_test = move || state.data.with(|d| d.is_sample(DataRole::Test));
    view! {
        <section class="panel predict-panel">
            <div class="buttons">
                <button class="primary" data-testid="predict-button" on:click=predict
                    disabled=move || no_test() || no_model() || running() title=why_disabled>
                    "Predict test.csv"
                </button>
                <label class="check inline">
                    <input type="checkbox" data-testid="tta-toggle"
                        on:change=move |ev| tta.set(event_target_checked(&ev)) />
                    <span data-testid="tta-description">{move || {
                        state.model.with(|m| tta_description(m.current.as_ref().map(|c| &c.meta)))
                    }}</span>
                </label>
                <button data-testid="download-submission" on:click=save
                    disabled=move || predictions.with(Option::is_none)
                    title=download_title>
                    "Download submission.csv"
                </button>
            </div>
            <p class="hint" data-testid="predict-hint">{move || {
                let why = why_disabled();
                if !why.is_empty() { why.to_string() }
                else if predictions.with(Option::is_none) {
                    "Press Predict to label every test digit; then download submission.csv."
                        .to_string()
                }
                else { String::new() }
            }}</p>
            <Show when=running>
                <ProgressBar fraction=fraction label=label testid="predict-progress" />
            </Show>
            {move || predictions.get().map(|p| view! {
                <p data-testid="predictions-summary">
                    {format!(
                        "{} test digits labelled by {}. The first {}:",
                        p.rows, p.model, p.preview.len()
                    )}
                </p>
                <Show when=sample_test>
                    <p class="hint" data-testid="predict-sample-note">
                        "These are the built-in sample's test digits: Kaggle scores only a \
                         submission of all 28,000 rows of its test.csv (load it on the Data tab)."
                    </p>
                </Show>
                <DigitGrid images=p.preview testid="predictions-preview"
                    caption=|d| {
                        d.label.map_or(String::new(), |l| format!("#{} → {l}", d.row + 1))
                    } />
            })}
        </section>
    }
}

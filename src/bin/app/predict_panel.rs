//! Label test.csv with the current model and download Kaggle's submission.csv.

use digit_lab::protocol::Command;
use leptos::prelude::*;

use crate::state::AppState;
use crate::storage::download;
use crate::widgets::{DigitGrid, ProgressBar};
use crate::worker;

#[component]
pub fn PredictPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let tta = RwSignal::new(false);
    let no_test = move || state.test_data.with(Option::is_none);
    let no_model = move || state.model.with(Option::is_none);
    let running = move || state.predict_progress.with(Option::is_some);
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
        state.predictions.set(None);
        state.predict_progress.set(Some((
            0,
            state
                .test_data
                .with_untracked(|d| d.as_ref().map_or(0, |d| d.rows)),
        )));
        worker::send(Command::PredictTest {
            tta: tta.get_untracked(),
        });
    };
    let save = move |_| {
        if let Some(p) = state.predictions.get_untracked()
            && let Err(e) = download("submission.csv", p.csv.as_bytes(), "text/csv")
        {
            state.error.set(Some(("Download".into(), format!("{e:?}"))));
        }
    };
    let fraction = Signal::derive(move || {
        state
            .predict_progress
            .get()
            .map_or(0.0, |(done, total)| done as f64 / total.max(1) as f64)
    });
    let label = Signal::derive(move || {
        state
            .predict_progress
            .get()
            .map_or(String::new(), |(done, total)| {
                format!("{done} / {total} digits")
            })
    });
    view! {
        <section class="panel predict-panel">
            <div class="buttons">
                <button class="primary" data-testid="predict-button" on:click=predict
                    disabled=move || no_test() || no_model() || running() title=why_disabled>
                    "Predict test.csv"
                </button>
                <label class="check inline">
                    <input type="checkbox" data-testid="tta-toggle" on:change=move |ev| tta.set(event_target_checked(&ev)) />
                    "test-time augmentation (5 views per digit)"
                </label>
                <button data-testid="download-submission" on:click=save
                    disabled=move || state.predictions.with(Option::is_none)
                    title=move || if state.predictions.with(Option::is_none) {
                        if no_test() { "Load test.csv and predict it first." } else { "Predict test.csv first." }
                    } else { "" }>
                    "Download submission.csv"
                </button>
            </div>
            <p class="hint" data-testid="predict-hint">{move || {
                let why = why_disabled();
                if !why.is_empty() { why.to_string() }
                else if state.predictions.with(Option::is_none) { "Press Predict to label every test digit; then download submission.csv.".to_string() }
                else { String::new() }
            }}</p>
            <Show when=running>
                <ProgressBar fraction=fraction label=label testid="predict-progress" />
            </Show>
            {move || state.predictions.get().map(|p| view! {
                <p data-testid="predictions-summary">{format!("{} test digits labelled. The first {}:", p.rows, p.preview.len())}</p>
                <DigitGrid images=p.preview testid="predictions-preview"
                    caption=|d| d.label.map_or(String::new(), |l| format!("#{} → {l}", d.row + 1)) />
            })}
        </section>
    }
}

//! The Model tab: the model in use (where it came from, its layers, its file), loading one or
//! going back to the bundled one, and the library of models kept in this browser.

use std::rc::Rc;

use digit_lab::protocol::{Failure, ModelSource, Operation, Problem};
use js_sys::Uint8Array;
use leptos::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::effects;
use crate::library_panel::{KeptRunPrompt, LibraryPanel};
use crate::logic::library::Load;
use crate::state::AppState;
use crate::widgets::{FileDrop, format_bytes, offer_download, percent};

/// The library's current model, else the bundled one (see `effects::load_startup_model`).
pub async fn load_startup_model(state: AppState) {
    effects::load_startup_model(state).await;
}

const MAX_MODEL_FILE_BYTES: f64 = 256.0 * 1024.0 * 1024.0;

#[component]
pub fn ModelPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    // The worker refuses to swap the model under a running run: say so before it has to.
    let busy = move || state.run.with(|r| r.is_busy());
    let on_file = Rc::new(move |file: web_sys::File| {
        let name = file.name();
        // Checked before reading: a model within the architecture bounds (50 million f32
        // parameters) is at most 200 MB.
        let size = file.size();
        if size <= 0.0 || size > MAX_MODEL_FILE_BYTES {
            let problem = Problem::Input(format!(
                "{name} is {}; a Digit Lab model file is between 1 byte and {}: choose a .bpk \
                 saved by Digit Lab",
                format_bytes(size),
                format_bytes(MAX_MODEL_FILE_BYTES)
            ));
            return state.report(Failure::new(Operation::LoadModel, problem));
        }
        wasm_bindgen_futures::spawn_local(async move {
            match JsFuture::from(file.array_buffer()).await {
                Ok(buffer) => {
                    let bytes = Uint8Array::new(&buffer);
                    effects::send_load(state, Load::File(name.clone()), name, bytes);
                }
                Err(_) => state.report(Failure::new(
                    Operation::LoadModel,
                    Problem::Browser(format!("could not read {name}; try choosing it again")),
                )),
            }
        });
    });
    // Exactly the file of the model the worker made current.
    let download = move |_| {
        let Some(file) = state.library.with_untracked(|l| l.current.clone()) else {
            return;
        };
        offer_download(
            state,
            &file.file_name,
            &file.bytes,
            "application/octet-stream",
        );
    };
    // Nothing is deleted: the library keeps every model, the pointer moves once it loaded.
    let bundled = move |_| leptos::task::spawn_local(effects::load_bundled_model(state));
    view! {
        <section class="panel model-panel">
            <KeptRunPrompt />
            <div class="buttons">
                <FileDrop label="Load a model file (.bpk)" accept=".bpk" testid="model-file"
                    on_file=on_file />
                <button data-testid="model-download" on:click=download
                    disabled=move || state.library.with(|l| l.current.is_none())>
                    "Download model"
                </button>
                <button data-testid="model-bundled" on:click=bundled disabled=busy
                    title=move || if busy() { "stop the training run first" } else { "" }>
                    "Use the bundled model"
                </button>
            </div>
            <p data-testid="model-current">
                {move || format!("In use: {}", state.library.with(|l| l.current_name()))}
            </p>
            <LibraryPanel />
            <h3>"The model in use"</h3>
            {move || state.model.with(|m| m.current.clone()).map(|m| {
                let training = m.meta.training.clone().filter(|_| m.meta.ensemble.is_none());
                let ensemble = m.meta.ensemble.as_ref().map(|e| format!(
                    "An ensemble of {} models: predictions are the mean of their probabilities \
                     · validation accuracy {} · layers below are member 1's",
                    e.others.len() + 1,
                    e.val_accuracy.map_or("not measured (load train.csv and combine again)".into(),
                        percent)));
                view! {
                    {ensemble.map(|text| view! { <p data-testid="model-ensemble">{text}</p> })}
                    <p>{format!("{} parameters", m.parameters)}
                        {training.map(|t| format!(
                            " · trained {} epochs on {} rows ({}) · best validation accuracy {}",
                            t.epochs_run, t.train_rows, t.device,
                            t.val_accuracy.map_or("-".into(), percent)))}
                    </p>
                    <table class="summary-table" data-testid="model-summary">
                        <thead>
                            <tr><th>"layer"</th><th>"output shape"</th><th>"params"</th></tr>
                        </thead>
                        <tbody>
                            {m.layers.iter().map(|l| view! {
                                <tr>
                                    <td>{l.name.clone()}</td>
                                    <td>{l.output.describe()}</td>
                                    <td>{l.params}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }
            })}
        </section>
    }
}

pub fn describe_source(source: &ModelSource) -> String {
    match source {
        ModelSource::Bundled => "bundled model".into(),
        ModelSource::Trained => "trained in this tab".into(),
        ModelSource::File(name) => format!("loaded from {name}"),
        ModelSource::Stored => "restored from this browser's storage".into(),
    }
}

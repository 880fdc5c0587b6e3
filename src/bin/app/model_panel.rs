//! The model in use: where it came from, its layers, and loading, saving or resetting it.

use std::rc::Rc;

use digit_lab::protocol::{Command, Failure, ModelSource, Operation, Problem};
use js_sys::Uint8Array;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::state::AppState;
use crate::storage;
use crate::widgets::{FileDrop, percent};
use crate::worker;

pub const BUNDLED_MODEL_URL: &str = "./assets/model.bpk";

/// Load the model stored by an earlier visit, else the bundled one.
pub async fn load_startup_model(state: AppState) {
    if let Some((name, bytes)) = storage::stored_model().await {
        worker::send_with_bytes(
            Command::LoadModel {
                file_name: name,
                source: ModelSource::Stored,
            },
            Some(Uint8Array::from(bytes.as_slice())),
        );
        return;
    }
    load_bundled_model(state).await;
}

pub async fn load_bundled_model(state: AppState) {
    match fetch_bytes(BUNDLED_MODEL_URL).await {
        Ok(bytes) => worker::send_with_bytes(
            Command::LoadModel {
                file_name: "model.bpk".into(),
                source: ModelSource::Bundled,
            },
            Some(bytes),
        ),
        Err(e) => state.report(Failure::new(
            Operation::LoadModel,
            Problem::Browser(format!(
                "could not fetch the bundled model {BUNDLED_MODEL_URL} ({e}); train a model or \
                 load one from a file"
            )),
        )),
    }
}

async fn fetch_bytes(url: &str) -> Result<Uint8Array, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|e| format!("{e:?}"))?
        .dyn_into()
        .map_err(|_| "not a response")?;
    if !response.ok() {
        return Err(format!("HTTP {}", response.status()));
    }
    let buffer = JsFuture::from(response.array_buffer().map_err(|e| format!("{e:?}"))?)
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(Uint8Array::new(&buffer))
}

#[component]
pub fn ModelPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let on_file = Rc::new(move |file: web_sys::File| {
        let name = file.name();
        wasm_bindgen_futures::spawn_local(async move {
            match JsFuture::from(file.array_buffer()).await {
                Ok(buffer) => worker::send_with_bytes(
                    Command::LoadModel {
                        file_name: name.clone(),
                        source: ModelSource::File(name),
                    },
                    Some(Uint8Array::new(&buffer)),
                ),
                Err(_) => state.report(Failure::new(
                    Operation::LoadModel,
                    Problem::Browser(format!("could not read {name}; try choosing it again")),
                )),
            }
        });
    });
    let download = move |_| match storage::latest_model() {
        Some((name, bytes)) => {
            if let Err(e) = storage::download(&name, &bytes, "application/octet-stream") {
                let problem = Problem::Browser(format!("{e:?}"));
                state.report(Failure::new(Operation::Download, problem));
            }
        }
        None => worker::send(Command::ExportModel),
    };
    let reset = move |_| {
        wasm_bindgen_futures::spawn_local(async move {
            storage::forget_model().await;
            load_bundled_model(state).await;
        })
    };
    view! {
        <section class="panel model-panel">
            <div class="buttons">
                <FileDrop label="Load a model file (.bpk)" accept=".bpk" testid="model-file"
                    on_file=on_file />
                <button data-testid="model-download" on:click=download
                    disabled=move || state.model.with(|m| m.current.is_none())>
                    "Download model"
                </button>
                <button data-testid="model-bundled" on:click=reset>"Use the bundled model"</button>
            </div>
            {move || state.model.with(|m| m.current.clone()).map(|m| {
                let training = m.meta.training.clone();
                view! {
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

//! Small pieces several panels use: progress bars, digit galleries, file pickers with drag and
//! drop, and canvases redrawn at most once per animation frame.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use digit_lab::protocol::{Command, DataRole, DigitImage, Failure, Operation, Problem};
use js_sys::Uint8Array;
use leptos::html::Canvas;
use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use web_sys::{File, FileReader, HtmlCanvasElement, ProgressEvent};

use crate::images::{Digit, Palette};
use crate::logic::data::{LoadProgress, LoadStage};
use crate::state::AppState;
use crate::worker;

#[component]
pub fn ProgressBar(
    #[prop(into)] fraction: Signal<f64>,
    #[prop(into)] label: Signal<String>,
    testid: &'static str,
) -> impl IntoView {
    let fill_style = move || format!("width:{:.1}%", fraction.get().clamp(0.0, 1.0) * 100.0);
    view! {
        <div class="progress" data-testid=testid role="progressbar"
            aria-valuemin="0" aria-valuemax="100"
            aria-valuenow=move || format!("{:.0}", fraction.get() * 100.0)>
            <div class="progress-fill" style=fill_style></div>
            <span class="progress-label">{label}</span>
        </div>
    }
}

/// A grid of digits with a caption under each.
#[component]
pub fn DigitGrid(
    #[prop(into)] images: Signal<Vec<DigitImage>>,
    caption: fn(&DigitImage) -> String,
    testid: &'static str,
    #[prop(default = 56)] size: u32,
) -> impl IntoView {
    view! {
        <div class="digit-grid" data-testid=testid>
            {move || {
                images
                    .get()
                    .into_iter()
                    .map(|image| {
                        let text = caption(&image);
                        view! {
                            <figure class="digit-cell" data-row=image.row>
                                <Digit pixels=image.pixels size=size palette=Palette::Gray />
                                <figcaption>{text}</figcaption>
                            </figure>
                        }
                    })
                    .collect_view()
            }}
        </div>
    }
}

/// A canvas whose `draw` runs whenever the signals it reads change, coalesced to one redraw
/// per animation frame (training can report hundreds of batches per second).
#[component]
pub fn LiveCanvas(
    draw: Arc<dyn Fn(&HtmlCanvasElement) + Send + Sync>,
    /// Reading this inside makes the canvas redraw when it changes.
    #[prop(into)]
    track: Signal<usize>,
    testid: &'static str,
    #[prop(default = "chart")] class: &'static str,
) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    let scheduled = Rc::new(Cell::new(false));
    Effect::new(move |_| {
        track.get();
        if scheduled.replace(true) {
            return;
        }
        let scheduled = scheduled.clone();
        let draw = draw.clone();
        let frame = Closure::once_into_js(move || {
            scheduled.set(false);
            if let Some(canvas) = canvas.get_untracked() {
                draw(&canvas);
            }
        });
        if let Some(window) = web_sys::window() {
            let _ = window.request_animation_frame(frame.unchecked_ref());
        }
    });
    view! {
        <canvas node_ref=canvas class=class data-testid=testid
            data-points=move || track.get()></canvas>
    }
}

/// Read a file with progress, then hand its bytes to the worker to parse.
pub fn load_csv_file(state: AppState, role: DataRole, file: File) {
    let Ok(reader) = FileReader::new() else {
        return;
    };
    worker::remember_file(role, file.clone());
    let reading = move |fraction: f64| {
        let progress = LoadProgress {
            stage: LoadStage::Reading,
            fraction,
        };
        state.data.update(|d| d.set_load(role, Some(progress)));
    };
    reading(0.0);
    let on_progress = Closure::<dyn FnMut(ProgressEvent)>::new(move |e: ProgressEvent| {
        if e.length_computable() {
            reading(e.loaded() / e.total().max(1.0));
        }
    });
    let file_name = file.name();
    let loaded_reader = reader.clone();
    let on_load = Closure::once_into_js(move |_: web_sys::Event| match loaded_reader.result() {
        Ok(buffer) => worker::send_with_bytes(
            Command::LoadCsv { role, file_name },
            Some(Uint8Array::new(&buffer)),
        ),
        Err(_) => {
            state.data.update(|d| d.set_load(role, None));
            let problem = Problem::Browser(format!(
                "the browser could not read {file_name}; try choosing it again"
            ));
            state.report(Failure::new(Operation::LoadData(role), problem));
        }
    });
    reader.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
    on_progress.forget();
    reader.set_onload(Some(on_load.unchecked_ref()));
    let _ = reader.read_as_array_buffer(&file);
}

/// A file input that also accepts a dropped file.
#[component]
pub fn FileDrop(
    label: &'static str,
    accept: &'static str,
    testid: &'static str,
    on_file: Rc<dyn Fn(File)>,
) -> impl IntoView {
    let hovering = RwSignal::new(false);
    let on_change = {
        let on_file = on_file.clone();
        move |ev: web_sys::Event| {
            let input: web_sys::HtmlInputElement = event_target(&ev);
            if let Some(file) = input.files().and_then(|f| f.get(0)) {
                on_file(file);
            }
            input.set_value("");
        }
    };
    let on_drop = move |ev: web_sys::DragEvent| {
        ev.prevent_default();
        hovering.set(false);
        if let Some(file) = ev
            .data_transfer()
            .and_then(|d| d.files())
            .and_then(|f| f.get(0))
        {
            on_file(file);
        }
    };
    view! {
        <label
            class="file-drop"
            class:hovering=move || hovering.get()
            on:dragover=move |ev: web_sys::DragEvent| {
                ev.prevent_default();
                hovering.set(true);
            }
            on:dragleave=move |_| hovering.set(false)
            on:drop=on_drop
        >
            <span>{label}</span>
            <input type="file" accept=accept data-testid=testid on:change=on_change />
            <small>"or drop it here"</small>
        </label>
    }
}

pub fn percent(value: f64) -> String {
    format!("{:.2}%", value * 100.0)
}

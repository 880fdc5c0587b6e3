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
use crate::storage::{download, download_url};
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

/// Bumped when every chart must be drawn again though its data did not change: the system's
/// light/dark theme changed, the window was resized, or a tab was shown (a chart drawn while its
/// tab was hidden had no width to fit).
#[derive(Clone, Copy)]
pub struct ChartRedraw(pub RwSignal<u32>);

impl ChartRedraw {
    /// The signal, with the theme and resize listeners that bump it for the page's lifetime.
    pub fn install() -> Self {
        let redraw = ChartRedraw(RwSignal::new(0));
        let dark = web_sys::window()
            .and_then(|w| w.match_media("(prefers-color-scheme: dark)").ok().flatten());
        if let Some(query) = dark {
            let on_change = Closure::<dyn FnMut()>::new(move || redraw.bump());
            query.set_onchange(Some(on_change.as_ref().unchecked_ref()));
            on_change.forget();
        }
        // Listening as long as the page lives (the handle only stops it when told to).
        let _resize = window_event_listener(leptos::ev::resize, move |_| redraw.bump());
        redraw
    }

    pub fn bump(self) {
        self.0.update(|n| *n = n.wrapping_add(1));
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
    let redraw = use_context::<ChartRedraw>();
    Effect::new(move |_| {
        track.get();
        if let Some(redraw) = redraw {
            redraw.0.track();
        }
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
    let state = expect_context::<AppState>();
    // The chart as drawn now, as a PNG named after it.
    let save_png = move |_| {
        let file_name = format!("{testid}.png");
        let saved = canvas
            .get_untracked()
            .ok_or_else(|| JsValue::from_str("the chart is not on the page"))
            .and_then(|c| c.to_data_url_with_type("image/png"))
            .and_then(|url| download_url(&file_name, &url));
        if let Err(e) = saved {
            let problem = Problem::Browser(format!("could not save {file_name}: {e:?}"));
            state.report(Failure::new(Operation::Download, problem));
        }
    };
    view! {
        <div class="chart-frame">
            <canvas node_ref=canvas class=class data-testid=testid
                data-points=move || track.get()></canvas>
            <button class="png" data-testid=format!("{testid}-png") on:click=save_png
                title="Download this chart as a PNG image">"PNG"</button>
        </div>
    }
}

/// The largest file the page reads: it is read whole into memory before the worker parses it
/// (and a .gz grows when decompressed). Kaggle's train.csv is 73 MB, 15 MB gzipped.
const MAX_FILE_BYTES: f64 = 512.0 * 1024.0 * 1024.0;

/// Why a chosen file is refused before anything is read: empty, or larger than
/// [`MAX_FILE_BYTES`]. `None` for a file worth reading.
fn refuse_file_size(file_name: &str, size: f64) -> Option<String> {
    if size <= 0.0 {
        return Some(format!(
            "{file_name} is empty (0 bytes); choose Kaggle's Digit Recognizer CSV (plain or .gz)"
        ));
    }
    (size > MAX_FILE_BYTES).then(|| {
        format!(
            "{file_name} is {}, more than the {} this page reads; Kaggle's Digit Recognizer \
             files are at most 73 MB (15 MB as .gz): choose one of those, or a gzipped copy",
            format_bytes(size),
            format_bytes(MAX_FILE_BYTES),
        )
    })
}

/// A size for people: bytes below 1 KiB, else KiB, MiB or GiB with at most one decimal.
pub fn format_bytes(bytes: f64) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if bytes < 1024.0 {
        return format!("{bytes:.0} bytes");
    }
    let mut value = bytes / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let text = format!("{value:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text} {}", UNITS[unit])
}

/// The `name: message` of a FileReader's `error` (a DOMException), read untyped; "no error
/// given" when the browser gave none.
fn reader_error(reader: &FileReader) -> String {
    let error = js_sys::Reflect::get(reader, &JsValue::from_str("error")).unwrap_or_default();
    let field = |key: &str| {
        js_sys::Reflect::get(&error, &JsValue::from_str(key))
            .ok()
            .and_then(|v| v.as_string())
            .filter(|s| !s.is_empty())
    };
    match (field("name"), field("message")) {
        (Some(name), Some(message)) => format!("{name}: {message}"),
        (Some(text), None) | (None, Some(text)) => text,
        (None, None) => "no error given".to_string(),
    }
}

/// Read a file with progress, then hand its bytes to the worker to parse. An empty or oversized
/// file is refused before anything is read; a read that fails or is aborted clears the progress
/// and is reported with the browser's error.
pub fn load_csv_file(state: AppState, role: DataRole, file: File) {
    let file_name = file.name();
    let report = move |problem: Problem| {
        state.report(Failure::new(Operation::LoadData(role), problem));
    };
    // Refused before anything starts: a file of this role being read meanwhile keeps its bar.
    if let Some(reason) = refuse_file_size(&file_name, file.size()) {
        report(Problem::Input(reason));
        return;
    }
    let Ok(reader) = FileReader::new() else {
        report(Problem::Browser(format!(
            "this browser could not start reading {file_name} (no FileReader)"
        )));
        return;
    };
    let reading = move |fraction: f64| {
        let progress = LoadProgress {
            stage: LoadStage::Reading,
            fraction,
        };
        state.data.update(|d| d.set_load(role, Some(progress)));
    };
    // A read that ended without bytes: no "reading N%" is left behind.
    let fail = move |problem: Problem| {
        state.data.update(|d| d.set_load(role, None));
        report(problem);
    };
    reading(0.0);
    let on_progress = Closure::<dyn FnMut(ProgressEvent)>::new(move |e: ProgressEvent| {
        if e.length_computable() {
            reading(e.loaded() / e.total().max(1.0));
        }
    });
    let loaded_reader = reader.clone();
    let loaded_name = file_name.clone();
    let sent_file = file.clone();
    let on_load = Closure::once_into_js(move |_: web_sys::Event| match loaded_reader.result() {
        Ok(buffer) => {
            // Remembered as it goes to the worker, so its reply is matched to this file.
            worker::remember_file(role, sent_file);
            worker::send_with_bytes(
                Command::LoadCsv {
                    role,
                    file_name: loaded_name,
                },
                Some(Uint8Array::new(&buffer)),
            )
        }
        Err(_) => fail(Problem::Browser(format!(
            "the browser could not read {loaded_name}; try choosing it again"
        ))),
    });
    // Exactly one of load, error and abort ends a read.
    let failed_reader = reader.clone();
    let failed_name = file_name.clone();
    let on_failed = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
        let error = reader_error(&failed_reader);
        fail(Problem::Browser(if e.type_() == "abort" {
            format!("reading {failed_name} was aborted ({error}); choose it again")
        } else {
            format!(
                "the browser could not read {failed_name} ({error}); a file that was moved, \
                 changed or deleted after it was chosen cannot be read: choose it again"
            )
        }));
    })
    .into_js_value();
    reader.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
    on_progress.forget();
    reader.set_onload(Some(on_load.unchecked_ref()));
    reader.set_onerror(Some(on_failed.unchecked_ref()));
    reader.set_onabort(Some(on_failed.unchecked_ref()));
    if let Err(error) = reader.read_as_array_buffer(&file) {
        let detail = error.as_string().unwrap_or_else(|| format!("{error:?}"));
        fail(Problem::Browser(format!(
            "the browser could not start reading {file_name}: {detail}"
        )));
    }
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

/// [`download`], reporting a refusal in the page's banner.
pub fn offer_download(state: AppState, file_name: &str, bytes: &[u8], mime: &str) {
    if let Err(e) = download(file_name, bytes, mime) {
        let problem = Problem::Browser(format!("could not download {file_name}: {e:?}"));
        state.report(Failure::new(Operation::Download, problem));
    }
}

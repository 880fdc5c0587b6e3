//! Where the page reaches outside its state: replacing a crashed worker, keeping the model
//! library in storage, and handing models to the worker. [`connect`] wires the worker's replies
//! to the state and here; the Model tab's buttons come here too.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use digit_lab::protocol::{Command, Failure, Operation, Problem, Reply};
use js_sys::Uint8Array;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::logic::Effect;
use crate::logic::data::SAMPLE_FILES;
use crate::logic::history::HistoryState;
use crate::logic::library::{Entry, Load, Op};
use crate::state::AppState;
use crate::widgets::load_csv_file;
use crate::{history_storage, storage, worker};

pub const BUNDLED_MODEL_URL: &str = "./assets/model.bpk";

/// How long start-up waits for the library (IndexedDB can stall, e.g. while another tab holds
/// an old version of the database open) before it uses the bundled model.
const LIBRARY_TIMEOUT_MS: u32 = 5_000;

thread_local! {
    /// Storage writes, performed one at a time in the order the library made them (a run's
    /// later checkpoint must not be overtaken by an earlier one).
    static WRITES: RefCell<VecDeque<Op>> = const { RefCell::new(VecDeque::new()) };
    static WRITING: Cell<bool> = const { Cell::new(false) };
}

/// Start the worker with its replies folded into `state` and their effects performed.
pub fn connect(state: AppState) {
    read_history(state);
    worker::spawn(
        state,
        Rc::new(move |reply, bytes| {
            let for_history = HistoryState::concerns(&reply).then(|| reply.clone());
            if let Some(effect) = state.apply(reply, bytes) {
                perform(state, effect);
            }
            if let Some(reply) = for_history {
                record_run(state, &reply);
            }
        }),
    );
}

/// Keep a run's record up to date in storage (after the library named the run's entry).
fn record_run(state: AppState, reply: &Reply) {
    let model = state.library.with_untracked(|l| l.run.clone());
    let now = js_sys::Date::now();
    let changed = state
        .history
        .try_update(|h| h.observe(reply, model.as_deref(), now))
        .flatten();
    if let Some(record) = changed
        && let Err(e) = history_storage::write_record(&record)
    {
        let problem = Problem::Browser(format!(
            "could not keep {} in the run history: {e}",
            record.label()
        ));
        state.report(Failure::new(Operation::Storage, problem));
    }
}

/// The run history as stored (read once at start-up; other tabs' runs appear on a reload).
pub fn read_history(state: AppState) {
    match history_storage::read_history() {
        Ok((records, view)) => state.history.update(|h| h.listed(records, view)),
        Err(e) => {
            web_sys::console::warn_1(&format!("the run history could not be read: {e}").into())
        }
    }
}

fn perform(state: AppState, effect: Effect) {
    match effect {
        Effect::RestartWorker => worker::restart(),
        Effect::Library(event) => {
            let now = js_sys::Date::now();
            let ops = state.library.try_update(|l| l.handle(event, now));
            run(state, ops.unwrap_or_default());
        }
    }
}

/// Carry out what the library decided.
pub fn run(state: AppState, ops: Vec<Op>) {
    for op in ops {
        match op {
            Op::Report(failure) => state.report(failure),
            Op::LoadBundled => leptos::task::spawn_local(load_bundled_model(state)),
            Op::LoadFallback => leptos::task::spawn_local(load_bundled(state, Load::Fallback)),
            write => queue_write(state, write),
        }
    }
}

fn queue_write(state: AppState, op: Op) {
    WRITES.with(|w| w.borrow_mut().push_back(op));
    state.library.update(|l| l.saving += 1);
    if WRITING.replace(true) {
        return;
    }
    leptos::task::spawn_local(async move {
        while let Some(op) = WRITES.with(|w| w.borrow_mut().pop_front()) {
            let written = storage::write(&op).await;
            state.library.update(|l| l.saving -= 1);
            if let Err(e) = written {
                let problem = Problem::Browser(format!(
                    "could not save to this browser's storage ({e}); the model stays usable in \
                     this tab, and \"Download model\" keeps a copy"
                ));
                state.report(Failure::new(Operation::Storage, problem));
            }
        }
        WRITING.set(false);
        // Read back what is stored: the truth, with what other tabs added meanwhile.
        refresh(state).await;
    });
}

async fn refresh(state: AppState) -> bool {
    let tab = state.library.with_untracked(|l| l.tab());
    match storage::read_library(tab).await {
        Ok((entries, pointer)) => {
            // A write queued while this read ran (a delete, a rename) is not in it: listing it
            // would undo that write on screen. The writer reads again once it is done.
            if state.library.with_untracked(|l| l.saving) == 0 {
                state.library.update(|l| l.listed(entries, pointer));
            }
            true
        }
        Err(e) => {
            web_sys::console::warn_1(&format!("the model library could not be read: {e}").into());
            false
        }
    }
}

/// Hand a model file to the worker, remembering which load it is (its answer says whether
/// the model became current).
pub fn send_load(state: AppState, load: Load, file_name: String, bytes: Uint8Array) {
    let source = load.source();
    state.library.update(|l| l.sending(load));
    worker::send_with_bytes(Command::LoadModel { file_name, source }, Some(bytes));
}

/// Combine library entries into one ensemble file in the worker; it becomes a new entry, made
/// current, once the worker accepted it (a refusal says why and changes nothing).
pub async fn combine_entries(state: AppState, entries: Vec<Entry>, name: String) {
    let mut parts = Vec::with_capacity(entries.len());
    let mut bytes = Vec::new();
    for entry in &entries {
        match storage::read_file(&entry.id).await {
            Ok(file) => {
                parts.push((entry.download_name(), file.len()));
                bytes.extend_from_slice(&file);
            }
            Err(reason) => {
                let problem =
                    Problem::Browser(format!("could not read \"{}\": {reason}", entry.name));
                return state.report(Failure::new(Operation::Storage, problem));
            }
        }
    }
    state.library.update(|l| l.combining(name.clone()));
    let file_name = format!("{name}.bpk");
    let bytes = Uint8Array::from(bytes.as_slice());
    worker::send_with_bytes(Command::CombineModels { file_name, parts }, Some(bytes));
}

/// Once a worker's device is ready. A replacement worker gets the model the old one held;
/// a fresh page the library's current entry, else the bundled model. A stored model that
/// cannot be read is quarantined (see `logic::library`).
pub async fn load_startup_model(state: AppState) {
    if state.connection.with_untracked(|c| c.generation) > 0 {
        state.library.update(|l| l.worker_replaced());
        if let Some((load, file)) = state.library.with_untracked(|l| l.replacement()) {
            let bytes = Uint8Array::from(&file.bytes[..]);
            return send_load(state, load, file.file_name, bytes);
        }
    }
    let timeout = Box::pin(gloo::timers::future::TimeoutFuture::new(LIBRARY_TIMEOUT_MS));
    let read = Box::pin(refresh(state));
    if let futures::future::Either::Right(_) = futures::future::select(read, timeout).await {
        web_sys::console::warn_1(
            &"the model library did not answer; using the bundled model".into(),
        );
        // Without the library's answer the current model is unknown: not "the bundled one".
        return load_bundled(state, Load::Fallback).await;
    }
    match state.library.with_untracked(|l| l.startup_entry()) {
        Some(entry) => load_entry(state, entry, true).await,
        None => load_bundled_model(state).await,
    }
}

/// Load a library entry (`startup`: the page's first model, which falls back to the bundled
/// one if the entry cannot be used).
pub async fn load_entry(state: AppState, entry: Entry, startup: bool) {
    match storage::read_file(&entry.id).await {
        Ok(bytes) => {
            let load = if startup {
                Load::Startup(entry.id.clone())
            } else {
                Load::Entry(entry.id.clone())
            };
            let bytes = Uint8Array::from(bytes.as_slice());
            send_load(state, load, entry.download_name(), bytes);
        }
        Err(reason) if startup => {
            let ops = state
                .library
                .try_update(|l| l.quarantine(&entry.id, reason));
            run(state, ops.unwrap_or_default());
        }
        Err(reason) => state.report(Failure::new(
            Operation::Storage,
            Problem::Browser(format!("could not read \"{}\": {reason}", entry.name)),
        )),
    }
}

pub async fn load_bundled_model(state: AppState) {
    load_bundled(state, Load::Bundled).await
}

async fn load_bundled(state: AppState, load: Load) {
    match fetch_bytes(BUNDLED_MODEL_URL).await {
        Ok(bytes) => send_load(state, load, "model.bpk".into(), bytes),
        Err(e) => state.report(Failure::new(
            Operation::LoadModel,
            Problem::Browser(format!(
                "could not fetch the bundled model {BUNDLED_MODEL_URL} ({e}); train a model or \
                 load one from a file"
            )),
        )),
    }
}

/// "Try with sample data": fetch the built-in slices of train.csv and test.csv and load them as
/// if the user had chosen them (same checks, progress, replay to a replacement worker).
pub async fn load_sample_data(state: AppState) {
    for sample in SAMPLE_FILES {
        let file = fetch_bytes(sample.url).await.and_then(|bytes| {
            web_sys::File::new_with_u8_array_sequence(&js_sys::Array::of1(&bytes), sample.file_name)
                .map_err(|e| format!("{e:?}"))
        });
        match file {
            Ok(file) => load_csv_file(state, sample.role, file),
            Err(e) => state.report(Failure::new(
                Operation::LoadData(sample.role),
                Problem::Browser(format!(
                    "could not fetch the sample data {} ({e}); load Kaggle's files instead",
                    sample.url
                )),
            )),
        }
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

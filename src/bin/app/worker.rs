//! The page's side of the worker: spawn it, send commands, route replies into [`AppState`].

use std::cell::RefCell;

use digit_lab::protocol::{Command, DataRole, Reply};
use js_sys::{Array, Object, Reflect, Uint8Array};
use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};

use crate::state::{AppState, RunStatus};

thread_local! {
    static WORKER: RefCell<Option<Worker>> = const { RefCell::new(None) };
    /// The files the user loaded, to hand to a replacement worker after a crash.
    static FILES: RefCell<[Option<web_sys::File>; 2]> = const { RefCell::new([None, None]) };
}

fn slot(role: DataRole) -> usize {
    match role {
        DataRole::Train => 0,
        DataRole::Test => 1,
    }
}

/// Remember a file the user chose (a `File` is a cheap handle; nothing is copied).
pub fn remember_file(role: DataRole, file: web_sys::File) {
    FILES.with(|f| f.borrow_mut()[slot(role)] = Some(file));
}

pub fn remembered_file(role: DataRole) -> Option<web_sys::File> {
    FILES.with(|f| f.borrow()[slot(role)].clone())
}

/// Replace a crashed worker with a fresh one on the CPU. What the page shows stays; the loaded
/// files and the stored best checkpoint are handed to the new worker once it is ready.
pub fn restart(state: AppState, message: String) {
    WORKER.with(|w| {
        if let Some(old) = w.borrow_mut().take() {
            old.terminate();
        }
    });
    state.error.set(Some((
        "Worker".into(),
        format!(
            "the background worker stopped ({message}). A fresh one is starting on the CPU; your files and the best checkpoint saved in this browser are restored."
        ),
    )));
    state.training.update(|t| {
        if t.status != RunStatus::Finished {
            t.status = RunStatus::Idle;
        }
    });
    state.worker_ready.set(false);
    state.device.set(None);
    state.force_cpu.set(true);
    state.worker_generation.update(|g| *g += 1);
    spawn(state);
}

/// Start the worker (a module worker that loads the worker's own wasm) and listen to it.
pub fn spawn(state: AppState) {
    let options = WorkerOptions::new();
    options.set_type(WorkerType::Module);
    let worker = match Worker::new_with_options("./assets/worker.js", &options) {
        Ok(worker) => worker,
        Err(e) => {
            state.error.set(Some((
                "Worker".into(),
                format!("the background worker could not start ({e:?}); this browser may not support module workers"),
            )));
            return;
        }
    };
    let on_message =
        Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            match decode(&event.data()) {
                Some((reply, bytes)) => state.apply(reply, bytes),
                None => web_sys::console::warn_1(&"unreadable message from the worker".into()),
            }
        });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    let on_error = Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(
        move |event: web_sys::ErrorEvent| {
            state.error.set(Some((
            "Worker".into(),
            format!(
                "the background worker stopped: {}. What was loaded in this page is kept; reload to restart it.",
                event.message()
            ),
        )));
        },
    );
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_error.forget();
    WORKER.with(|w| *w.borrow_mut() = Some(worker));
}

pub fn send(command: Command) {
    send_with_bytes(command, None);
}

/// Send a command; `bytes` (a file's contents) is transferred to the worker, not copied.
pub fn send_with_bytes(command: Command, bytes: Option<Uint8Array>) {
    let Ok(text) = serde_json::to_string(&command) else {
        return;
    };
    let message = Object::new();
    let _ = Reflect::set(&message, &"msg".into(), &text.into());
    let transfer = Array::new();
    if let Some(bytes) = bytes {
        let buffer = bytes.buffer();
        let _ = Reflect::set(&message, &"bytes".into(), &buffer);
        transfer.push(&buffer);
    }
    WORKER.with(|w| {
        if let Some(worker) = w.borrow().as_ref() {
            let _ = worker.post_message_with_transfer(&message, &transfer);
        }
    });
}

fn decode(data: &JsValue) -> Option<(Reply, Option<Vec<u8>>)> {
    let text = Reflect::get(data, &"msg".into()).ok()?.as_string()?;
    let reply = serde_json::from_str(&text).ok()?;
    let bytes = Reflect::get(data, &"bytes".into())
        .ok()
        .filter(|b| !b.is_undefined() && !b.is_null())
        .map(|b| Uint8Array::new(&b).to_vec());
    Some((reply, bytes))
}

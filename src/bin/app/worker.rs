//! The page's side of the worker: spawn it, send commands, route replies into [`AppState`]
//! (in the encoding of `digit_lab::protocol::wire`, shared with the worker).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use digit_lab::protocol::{Command, DataRole, Failure, Operation, Problem, Reply, wire};
use js_sys::Uint8Array;
use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};

use crate::logic::connection::MAX_RESTARTS;
use crate::state::AppState;

/// What the page does with each reply (given once, by `effects::connect`).
pub type OnReply = Rc<dyn Fn(Reply, Option<Vec<u8>>)>;

thread_local! {
    /// The running worker, with what a replacement needs to be wired the same way.
    static WORKER: RefCell<Option<(Worker, AppState, OnReply)>> = const { RefCell::new(None) };
    /// Per role: the file the worker accepted (handed to a replacement worker) and the ones
    /// sent to it that it has not answered yet, in order (the worker answers in order).
    static FILES: RefCell<[Files; 2]> = const { RefCell::new([Files::NONE, Files::NONE]) };
}

struct Files {
    loaded: Option<web_sys::File>,
    pending: VecDeque<web_sys::File>,
}

impl Files {
    const NONE: Files = Files {
        loaded: None,
        pending: VecDeque::new(),
    };
}

fn slot(role: DataRole) -> usize {
    match role {
        DataRole::Train => 0,
        DataRole::Test => 1,
    }
}

/// A file's bytes are on their way to the worker (a `File` is a cheap handle).
pub fn remember_file(role: DataRole, file: web_sys::File) {
    FILES.with(|f| f.borrow_mut()[slot(role)].pending.push_back(file));
}

/// The file the worker last accepted for `role`: what a replacement worker gets.
pub fn remembered_file(role: DataRole) -> Option<web_sys::File> {
    FILES.with(|f| f.borrow()[slot(role)].loaded.clone())
}

/// A file is remembered for replay only once the worker parsed it: a refused file (or one
/// that crashed the worker) is not handed to the next worker.
fn track_files(reply: &Reply) {
    let (role, accepted) = match reply {
        Reply::DataLoaded(summary) => (summary.role, true),
        Reply::Error(Failure {
            operation: Operation::LoadData(role),
            ..
        }) => (*role, false),
        Reply::WorkerCrashed { .. } => {
            FILES.with(|f| f.borrow_mut().iter_mut().for_each(|f| f.pending.clear()));
            return;
        }
        _ => return,
    };
    FILES.with(|f| {
        let files = &mut f.borrow_mut()[slot(role)];
        let answered = files.pending.pop_front();
        if accepted && answered.is_some() {
            files.loaded = answered;
        }
    });
}

/// Replace a crashed worker with a fresh one (the page's state already counted the crash and
/// chose the device: see `logic::connection`), unless it crashed too often. The loaded files
/// and the current model are handed to the new worker once it is ready (`layout`).
pub fn restart() {
    let Some((old, state, on_reply)) = WORKER.with(|w| w.borrow_mut().take()) else {
        return;
    };
    old.terminate();
    if state.connection.with_untracked(|c| c.gave_up) {
        let problem = Problem::WorkerGaveUp(MAX_RESTARTS + 1);
        return state.report(Failure::new(Operation::Worker, problem));
    }
    spawn(state, on_reply);
}

/// Move to the CPU on the user's request: a fresh worker that does not try WebGPU.
pub fn switch_to_cpu(state: AppState) {
    state.connection.update(|c| c.switch_to_cpu());
    replace();
}

/// Stop the files being parsed: a parse runs to its end inside the worker, so the worker is
/// replaced by a fresh one, which gets back the files it had accepted and the current model.
pub fn cancel_loads(state: AppState) {
    FILES.with(|f| f.borrow_mut().iter_mut().for_each(|f| f.pending.clear()));
    state.connection.update(|c| c.replace_worker());
    replace();
}

fn replace() {
    if let Some((old, state, on_reply)) = WORKER.with(|w| w.borrow_mut().take()) {
        // What the old worker was doing dies with it (a run cannot be going on: both ways
        // here are refused while one is).
        FILES.with(|f| f.borrow_mut().iter_mut().for_each(|f| f.pending.clear()));
        state.data.update(|d| d.worker_replaced());
        state.predict.update(|p| p.progress = None);
        old.terminate();
        spawn(state, on_reply);
    }
}

/// Start the worker (a module worker that loads the worker's own wasm) and hand its replies to
/// `on_reply`.
pub fn spawn(state: AppState, on_reply: OnReply) {
    let options = WorkerOptions::new();
    options.set_type(WorkerType::Module);
    let worker = match Worker::new_with_options("./assets/worker.js", &options) {
        Ok(worker) => worker,
        Err(e) => {
            let problem = Problem::WorkerUnavailable(format!("{e:?}"));
            return state.report(Failure::new(Operation::Worker, problem));
        }
    };
    let handler = on_reply.clone();
    // Whether this worker ever answered: after that, its loader reports traps itself.
    let answered = Rc::new(std::cell::Cell::new(false));
    let answered_in_message = answered.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        answered_in_message.set(true);
        match wire::reply_from_js(&event.data()) {
            Ok((reply, bytes)) => {
                track_files(&reply);
                handler(reply, bytes)
            }
            Err(e) => state.report(Failure::new(Operation::Worker, Problem::Unreadable(e))),
        }
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    // Once the worker runs, its loader reports a trap itself (`{ crashed }`); an error before
    // it ever answered means its script could not load at all.
    let on_error =
        Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(move |event: web_sys::ErrorEvent| {
            if !answered.get() {
                let problem = Problem::WorkerUnavailable(event.message());
                state.report(Failure::new(Operation::Worker, problem));
            }
        });
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_error.forget();
    WORKER.with(|w| *w.borrow_mut() = Some((worker, state, on_reply)));
}

pub fn send(command: Command) {
    send_with_bytes(command, None);
}

/// Send a command; `bytes` (a file's contents) is transferred to the worker, not copied.
pub fn send_with_bytes(command: Command, bytes: Option<Uint8Array>) {
    let message = match wire::to_js(&command, bytes) {
        Ok(message) => message,
        Err(e) => return web_sys::console::error_1(&format!("unsendable command: {e}").into()),
    };
    WORKER.with(|w| {
        if let Some((worker, ..)) = w.borrow().as_ref() {
            let (message, transfer) = &message;
            let _ = worker.post_message_with_transfer(message, transfer);
        }
    });
}

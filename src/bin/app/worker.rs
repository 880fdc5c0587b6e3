//! The page's side of the worker: spawn it, send commands, route replies into [`AppState`]
//! (in the encoding of `digit_lab::protocol::wire`, shared with the worker).

use std::cell::RefCell;
use std::rc::Rc;

use digit_lab::protocol::{Command, DataRole, Failure, Operation, Problem, Reply, wire};
use js_sys::Uint8Array;
use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};

use crate::state::AppState;

/// What the page does with each reply (given once, by `effects::connect`).
pub type OnReply = Rc<dyn Fn(Reply, Option<Vec<u8>>)>;

thread_local! {
    /// The running worker, with what a replacement needs to be wired the same way.
    static WORKER: RefCell<Option<(Worker, AppState, OnReply)>> = const { RefCell::new(None) };
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

/// Replace a crashed worker with a fresh one (the page's state already moved to the CPU and
/// bumped the generation: see `logic::connection`). The loaded files and the stored best
/// checkpoint are handed to the new worker once it is ready (`layout`).
pub fn restart() {
    let Some((old, state, on_reply)) = WORKER.with(|w| w.borrow_mut().take()) else {
        return;
    };
    old.terminate();
    spawn(state, on_reply);
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
    let on_message =
        Closure::<dyn FnMut(MessageEvent)>::new(
            move |event: MessageEvent| match wire::reply_from_js(&event.data()) {
                Ok((reply, bytes)) => handler(reply, bytes),
                Err(e) => state.report(Failure::new(Operation::Worker, Problem::Unreadable(e))),
            },
        );
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    // Once the worker runs, its loader reports a trap itself (`{ crashed }`); an error before
    // that means its script could not load at all.
    let on_error =
        Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(move |event: web_sys::ErrorEvent| {
            if !state.connection.with_untracked(|c| c.ready) {
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

//! `postMessage` <-> [`Session`], in the encoding of `digit_lab::protocol::wire` (shared with
//! the page); byte payloads are transferred, not copied.
//!
//! One async loop owns the session: it handles queued commands one at a time and, while a run is
//! training, advances it one event at a time, yielding a macrotask in between so that incoming
//! messages (pause, stop, a drawing to classify) are queued and served promptly.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use digit_lab::protocol::{Command, Failure, Operation, Problem, Reply, wire};
use digit_lab::session::Session;
use digit_lab::training::events::TrainEvent;
use futures::channel::oneshot;
use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;
use web_sys::{DedicatedWorkerGlobalScope, MessageChannel, MessageEvent};

type Message = (Command, Option<Vec<u8>>);

#[derive(Default)]
struct Inbox {
    queue: VecDeque<Message>,
    wake: Option<oneshot::Sender<()>>,
}

impl Inbox {
    /// Queue a command. A newer drawing, preview or activation request replaces a queued one of
    /// the same kind: only the latest matters and the queue must not grow while the user draws.
    fn push(&mut self, message: Message) {
        let replaces = |queued: &Command| {
            matches!(
                (queued, &message.0),
                (Command::Classify { .. }, Command::Classify { .. })
                    | (
                        Command::AugmentPreview { .. },
                        Command::AugmentPreview { .. }
                    )
                    | (Command::Activations { .. }, Command::Activations { .. })
            )
        };
        self.queue.retain(|(queued, _)| !replaces(queued));
        self.queue.push_back(message);
        if let Some(wake) = self.wake.take() {
            let _ = wake.send(());
        }
    }
}

pub fn start() {
    console_error_panic_hook::set_once();
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let inbox = Rc::new(RefCell::new(Inbox::default()));
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new({
        let inbox = inbox.clone();
        let scope = scope.clone();
        move |event: MessageEvent| match decode(&event.data()) {
            Ok(message) => inbox.borrow_mut().push(message),
            Err(problem) => post(
                &scope,
                &Reply::Error(Failure::new(
                    Operation::Worker,
                    Problem::Unreadable(problem),
                )),
                None,
            ),
        }
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    wasm_bindgen_futures::spawn_local(serve(inbox, scope));
}

async fn serve(inbox: Rc<RefCell<Inbox>>, scope: DedicatedWorkerGlobalScope) {
    let mut session = Session::new();
    let mut emit = |reply: Reply, bytes: Option<Vec<u8>>| {
        post(&scope, &reply, bytes);
        if matches!(reply, Reply::Train(TrainEvent::Epoch(_))) {
            let wasm_bytes = memory_bytes();
            post(&scope, &Reply::WorkerMemory { wasm_bytes }, None);
        }
    };
    post(&scope, &Reply::WorkerReady, None);
    loop {
        let next = inbox.borrow_mut().queue.pop_front();
        if let Some((command, bytes)) = next {
            session.handle(command, bytes, &mut emit).await;
            yield_macrotask().await;
        } else if session.wants_training_step() {
            session.train_step(&mut emit).await;
            yield_macrotask().await;
        } else {
            let (wake, woken) = oneshot::channel();
            inbox.borrow_mut().wake = Some(wake);
            let _ = woken.await;
        }
    }
}

/// Size of this worker's wasm linear memory (it only grows; flat means no leak).
fn memory_bytes() -> u64 {
    wasm_bindgen::memory()
        .unchecked_into::<js_sys::WebAssembly::Memory>()
        .buffer()
        .unchecked_into::<js_sys::ArrayBuffer>()
        .byte_length() as u64
}

fn decode(data: &JsValue) -> Result<Message, String> {
    wire::from_js(data)
}

fn post(scope: &DedicatedWorkerGlobalScope, reply: &Reply, bytes: Option<Vec<u8>>) {
    let bytes = bytes.map(|b| Uint8Array::from(b.as_slice()));
    let posted = wire::to_js(reply, bytes).and_then(|(message, transfer)| {
        scope
            .post_message_with_transfer(&message, &transfer)
            .map_err(|e| format!("{e:?}"))
    });
    if let Err(problem) = posted {
        // Tell the page that a reply was lost rather than leaving it waiting.
        let lost = Reply::Error(Failure::new(
            Operation::Worker,
            Problem::Unreadable(format!("a reply could not be sent: {problem}")),
        ));
        if let Ok((message, transfer)) = wire::to_js(&lost, None) {
            let _ = scope.post_message_with_transfer(&message, &transfer);
        }
    }
}

thread_local! {
    /// One channel reused for every yield (yields never overlap).
    static YIELD_CHANNEL: Option<MessageChannel> = MessageChannel::new().ok();
}

/// Yield to the event loop with a macrotask. A MessageChannel round trip is used rather than
/// `setTimeout(0)`, which browsers clamp to 4 ms when nested.
async fn yield_macrotask() {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        YIELD_CHANNEL.with(|channel| match channel {
            Some(channel) => {
                channel.port1().set_onmessage(Some(&resolve));
                let _ = channel.port2().post_message(&JsValue::NULL);
            }
            None => {
                let _ = resolve.call0(&JsValue::NULL);
            }
        })
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

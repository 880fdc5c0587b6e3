//! Keeping the model: the latest model file (trained, checkpointed or loaded) is stored in
//! IndexedDB so it survives a reload, and kept in memory for the download button.

use std::cell::RefCell;

use js_sys::{Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbRequest, IdbTransactionMode};

const DATABASE: &str = "digit-lab";
const STORE: &str = "models";
const KEY: &str = "current";

thread_local! {
    /// The latest model file (name, bytes), for "Download model".
    static LATEST: RefCell<Option<(String, Vec<u8>)>> = const { RefCell::new(None) };
}

pub fn latest_model() -> Option<(String, Vec<u8>)> {
    LATEST.with(|l| l.borrow().clone())
}

/// Keep a model file in memory and in IndexedDB (fire and forget; failures are logged, since
/// the model stays usable in this page either way).
pub fn remember_model(file_name: String, bytes: Vec<u8>, _checkpoint: bool) {
    LATEST.with(|l| *l.borrow_mut() = Some((file_name.clone(), bytes.clone())));
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = put(&file_name, &bytes).await {
            web_sys::console::warn_2(&"could not store the model in IndexedDB:".into(), &e);
        }
    });
}

/// The model stored by an earlier visit, if any.
pub async fn stored_model() -> Option<(String, Vec<u8>)> {
    let db = open().await.ok()?;
    let store = db
        .transaction_with_str(STORE)
        .ok()?
        .object_store(STORE)
        .ok()?;
    let value = wait(&store.get(&KEY.into()).ok()?).await.ok()?;
    if value.is_undefined() {
        return None;
    }
    let name = Reflect::get(&value, &"name".into()).ok()?.as_string()?;
    let bytes = Uint8Array::new(&Reflect::get(&value, &"bytes".into()).ok()?).to_vec();
    LATEST.with(|l| *l.borrow_mut() = Some((name.clone(), bytes.clone())));
    Some((name, bytes))
}

pub async fn forget_model() {
    LATEST.with(|l| *l.borrow_mut() = None);
    if let Ok(db) = open().await
        && let Ok(tx) = db.transaction_with_str_and_mode(STORE, IdbTransactionMode::Readwrite)
        && let Ok(store) = tx.object_store(STORE)
        && let Ok(request) = store.delete(&KEY.into())
    {
        let _ = wait(&request).await;
    }
}

async fn put(name: &str, bytes: &[u8]) -> Result<(), JsValue> {
    let db = open().await?;
    let tx = db.transaction_with_str_and_mode(STORE, IdbTransactionMode::Readwrite)?;
    let record = Object::new();
    Reflect::set(&record, &"name".into(), &name.into())?;
    Reflect::set(&record, &"bytes".into(), &Uint8Array::from(bytes).buffer())?;
    wait(&tx.object_store(STORE)?.put_with_key(&record, &KEY.into())?).await?;
    Ok(())
}

async fn open() -> Result<IdbDatabase, JsValue> {
    let factory = web_sys::window()
        .ok_or("no window")?
        .indexed_db()?
        .ok_or("IndexedDB is not available")?;
    let request = factory.open_with_u32(DATABASE, 1)?;
    let on_upgrade = Closure::once(move |event: web_sys::Event| {
        let db: Option<IdbDatabase> = event
            .target()
            .and_then(|t| t.dyn_into::<IdbRequest>().ok())
            .and_then(|r| r.result().ok())
            .and_then(|r| r.dyn_into().ok());
        if let Some(db) = db
            && !db.object_store_names().contains(STORE)
        {
            let _ = db.create_object_store(STORE);
        }
    });
    request.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
    let db = wait(&request).await?;
    drop(on_upgrade);
    db.dyn_into()
}

/// Await an IndexedDB request.
async fn wait(request: &IdbRequest) -> Result<JsValue, JsValue> {
    let promise = Promise::new(&mut |resolve, reject| {
        let ok_request = request.clone();
        let on_success = Closure::once_into_js(move |_: web_sys::Event| {
            let _ = resolve.call1(
                &JsValue::NULL,
                &ok_request.result().unwrap_or(JsValue::UNDEFINED),
            );
        });
        let on_error = Closure::once_into_js(move |_: web_sys::Event| {
            let _ = reject.call1(&JsValue::NULL, &"IndexedDB request failed".into());
        });
        request.set_onsuccess(Some(on_success.unchecked_ref()));
        request.set_onerror(Some(on_error.unchecked_ref()));
    });
    JsFuture::from(promise).await
}

/// Offer bytes as a file download.
pub fn download(file_name: &str, bytes: &[u8], mime: &str) -> Result<(), JsValue> {
    let parts = js_sys::Array::of1(&Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)?;
    let document = web_sys::window()
        .ok_or("no window")?
        .document()
        .ok_or("no document")?;
    let anchor: web_sys::HtmlAnchorElement = document.create_element("a")?.dyn_into()?;
    anchor.set_href(&url);
    anchor.set_download(file_name);
    anchor.click();
    // Revoking at once can cancel the download; the browser has long read the blob after this.
    gloo::timers::callback::Timeout::new(60_000, move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    })
    .forget();
    Ok(())
}

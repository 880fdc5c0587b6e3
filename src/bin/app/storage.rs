//! The model library in IndexedDB (what to keep and when is `logic::library`'s decision), and
//! file downloads.
//!
//! Database `digit-lab`, version 2:
//! - `entries`: one record per kept model (a `library::Entry`), keyed by its id;
//! - `files`: each entry's model file as an `ArrayBuffer`, under the same id;
//! - `settings`: key `current` holds the current entry's id (`null`: the bundled model).
//!
//! Each model has its own keys (ids carry their creation time and the writing tab's tag), so
//! two tabs never overwrite each other's models; only the pointer is last-writer-wins.
//! Version 1 kept one record (`models`/`current`: `{ name, bytes }`), overwritten by every
//! checkpoint; it becomes an entry the first time the library is read.

use js_sys::{Array, ArrayBuffer, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbRequest, IdbTransaction, IdbTransactionMode};

use crate::logic::library::{self, Entry, Op};

const DATABASE: &str = "digit-lab";
const VERSION: u32 = 2;
const ENTRIES: &str = "entries";
const FILES: &str = "files";
const SETTINGS: &str = "settings";
/// Version 1's single slot.
const LEGACY: &str = "models";
const CURRENT: &str = "current";

/// Every entry (in no particular order) and the current pointer, after moving version 1's
/// record into the library if it is still there.
pub async fn read_library(tab: u32) -> Result<(Vec<Entry>, Option<String>), String> {
    let db = open().await.map_err(text)?;
    if let Err(e) = migrate(&db, tab).await {
        // The old record stays where it is; the library works without it.
        web_sys::console::warn_2(
            &"could not move the stored model into the library:".into(),
            &e,
        );
    }
    let result = async {
        let tx = db.transaction_with_str_sequence(&names(&[ENTRIES, SETTINGS]))?;
        let all = done(&tx.object_store(ENTRIES)?.get_all()?);
        let pointer = done(&tx.object_store(SETTINGS)?.get(&CURRENT.into())?);
        let (all, pointer) = (all.await?, pointer.await?);
        let entries = Array::from(&all)
            .iter()
            .filter_map(|record| match serde_wasm_bindgen::from_value(record) {
                Ok(entry) => Some(entry),
                Err(e) => {
                    // A record this version cannot read (written by a newer one): left alone.
                    let why = format!("a library record this page cannot read: {e}");
                    web_sys::console::warn_1(&why.into());
                    None
                }
            })
            .collect();
        Ok::<_, JsValue>((entries, pointer.as_string()))
    }
    .await;
    db.close();
    result.map_err(text)
}

/// An entry's model file, byte for byte as it was stored.
pub async fn read_file(id: &str) -> Result<Vec<u8>, String> {
    let db = open().await.map_err(text)?;
    let result = async {
        let tx = db.transaction_with_str(FILES)?;
        done(&tx.object_store(FILES)?.get(&id.into())?).await
    }
    .await;
    db.close();
    let value = result.map_err(text)?;
    if value.is_undefined() || value.is_null() {
        return Err("its model file is missing from this browser's storage".into());
    }
    Ok(Uint8Array::new(&value).to_vec())
}

/// Perform one of the library's writes (each in a single transaction: an entry, its file and
/// the pointer to it are written together or not at all).
pub async fn write(op: &Op) -> Result<(), String> {
    let db = open().await.map_err(text)?;
    let result = write_in(&db, op).await;
    db.close();
    result.map_err(text)
}

async fn write_in(db: &IdbDatabase, op: &Op) -> Result<(), JsValue> {
    let readwrite = |stores: &[&str]| {
        db.transaction_with_str_sequence_and_mode(&names(stores), IdbTransactionMode::Readwrite)
    };
    match op {
        Op::Save {
            entry,
            bytes,
            make_current,
        } => {
            let mut stores = vec![ENTRIES];
            stores.extend(bytes.is_some().then_some(FILES));
            stores.extend(make_current.then_some(SETTINGS));
            let tx = readwrite(&stores)?;
            let committed = committed(&tx);
            let id = JsValue::from_str(&entry.id);
            let record = serde_wasm_bindgen::to_value(entry)?;
            tx.object_store(ENTRIES)?.put_with_key(&record, &id)?;
            if let Some(bytes) = bytes {
                let buffer = Uint8Array::from(&bytes[..]).buffer();
                tx.object_store(FILES)?.put_with_key(&buffer, &id)?;
            }
            if *make_current {
                tx.object_store(SETTINGS)?
                    .put_with_key(&id, &CURRENT.into())?;
            }
            committed.await
        }
        Op::Point(pointer) => {
            let tx = readwrite(&[SETTINGS])?;
            let committed = committed(&tx);
            let value = pointer.as_deref().map_or(JsValue::NULL, JsValue::from_str);
            tx.object_store(SETTINGS)?
                .put_with_key(&value, &CURRENT.into())?;
            committed.await
        }
        Op::Delete(id) => {
            let tx = readwrite(&[ENTRIES, FILES])?;
            let committed = committed(&tx);
            let id = JsValue::from_str(id);
            tx.object_store(ENTRIES)?.delete(&id)?;
            tx.object_store(FILES)?.delete(&id)?;
            committed.await
        }
        Op::LoadBundled | Op::LoadFallback | Op::Report(_) => Ok(()),
    }
}

/// Move version 1's single record into an entry, made current: read, written and removed in
/// one transaction, so two tabs upgrading at once make one entry.
async fn migrate(db: &IdbDatabase, tab: u32) -> Result<(), JsValue> {
    if !db.object_store_names().contains(LEGACY) {
        return Ok(());
    }
    let stores = names(&[LEGACY, ENTRIES, FILES, SETTINGS]);
    let tx = db.transaction_with_str_sequence_and_mode(&stores, IdbTransactionMode::Readwrite)?;
    let committed = committed(&tx);
    let legacy = tx.object_store(LEGACY)?;
    let record = done(&legacy.get(&CURRENT.into())?).await?;
    if !record.is_object() {
        return committed.await;
    }
    let name = Reflect::get(&record, &"name".into())?
        .as_string()
        .unwrap_or_else(|| "stored model".into());
    let bytes = Reflect::get(&record, &"bytes".into())?;
    let size = bytes
        .dyn_ref::<ArrayBuffer>()
        .map_or(0, |b| b.byte_length() as usize);
    let entry = library::legacy_entry(&name, size, js_sys::Date::now(), tab);
    let id = JsValue::from_str(&entry.id);
    // Requests are made while the transaction is still active (in the get's success callback).
    let record = serde_wasm_bindgen::to_value(&entry)?;
    tx.object_store(ENTRIES)?.put_with_key(&record, &id)?;
    tx.object_store(FILES)?.put_with_key(&bytes, &id)?;
    tx.object_store(SETTINGS)?
        .put_with_key(&id, &CURRENT.into())?;
    legacy.delete(&CURRENT.into())?;
    committed.await
}

async fn open() -> Result<IdbDatabase, JsValue> {
    let factory = web_sys::window()
        .ok_or("no window")?
        .indexed_db()?
        .ok_or("IndexedDB is not available")?;
    let request = factory.open_with_u32(DATABASE, VERSION)?;
    let on_upgrade = Closure::once(move |event: web_sys::Event| {
        let db: Option<IdbDatabase> = event
            .target()
            .and_then(|t| t.dyn_into::<IdbRequest>().ok())
            .and_then(|r| r.result().ok())
            .and_then(|r| r.dyn_into().ok());
        if let Some(db) = db {
            // Version 1's store stays until its record has been moved (`migrate`).
            for store in [ENTRIES, FILES, SETTINGS] {
                if !db.object_store_names().contains(store) {
                    let _ = db.create_object_store(store);
                }
            }
        }
    });
    request.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
    let db = done(&request).await?;
    drop(on_upgrade);
    let db: IdbDatabase = db.dyn_into()?;
    // A newer version of the page opening the database in another tab must not wait for us.
    let on_version_change = Closure::<dyn FnMut()>::new({
        let db = db.clone();
        move || db.close()
    });
    db.set_onversionchange(Some(on_version_change.as_ref().unchecked_ref()));
    on_version_change.forget();
    Ok(db)
}

fn names(stores: &[&str]) -> JsValue {
    stores
        .iter()
        .map(|s| JsValue::from_str(s))
        .collect::<Array>()
        .into()
}

/// A request's result. The handlers are attached at once (not when first polled), so a request
/// that completes before it is awaited is not missed.
fn done(request: &IdbRequest) -> JsFuture {
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
    JsFuture::from(promise)
}

/// A transaction's end: written (complete) or not at all (error, abort: e.g. storage full).
/// Like [`done`], the handlers are attached at once.
fn committed(tx: &IdbTransaction) -> impl std::future::Future<Output = Result<(), JsValue>> {
    let promise = Promise::new(&mut |resolve, reject| {
        let on_complete = Closure::once_into_js(move |_: web_sys::Event| {
            let _ = resolve.call0(&JsValue::NULL);
        });
        // An error is followed by an abort: the second rejection is ignored.
        let failed = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
            let _ = reject.call1(&JsValue::NULL, &"the IndexedDB transaction failed".into());
        })
        .into_js_value();
        tx.set_oncomplete(Some(on_complete.unchecked_ref()));
        tx.set_onerror(Some(failed.unchecked_ref()));
        tx.set_onabort(Some(failed.unchecked_ref()));
    });
    let future = JsFuture::from(promise);
    async move { future.await.map(|_| ()) }
}

fn text(e: JsValue) -> String {
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}

/// Offer bytes as a file download.
pub fn download(file_name: &str, bytes: &[u8], mime: &str) -> Result<(), JsValue> {
    let parts = js_sys::Array::of1(&Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)?;
    download_url(file_name, &url)?;
    // Revoking at once can cancel the download; the browser has long read the blob after this.
    gloo::timers::callback::Timeout::new(60_000, move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    })
    .forget();
    Ok(())
}

/// Offer what a URL holds (a blob: or data: URL of this page) as a file download.
pub fn download_url(file_name: &str, url: &str) -> Result<(), JsValue> {
    let document = web_sys::window()
        .ok_or("no window")?
        .document()
        .ok_or("no document")?;
    let anchor: web_sys::HtmlAnchorElement = document.create_element("a")?.dyn_into()?;
    anchor.set_href(url);
    anchor.set_download(file_name);
    anchor.click();
    Ok(())
}

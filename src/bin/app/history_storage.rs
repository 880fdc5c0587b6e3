//! The run history in `localStorage`: key `digit-lab-run:<id>` holds one run's record (JSON), so
//! each tab writes only the runs it trained and never overwrites another tab's; key
//! `digit-lab-runs-view` holds the Runs tab's ticks and metric. A record is a few kilobytes
//! (its per-epoch metrics), far below the browser's quota for hundreds of runs.

use crate::logic::history::{HistoryView, RunRecord};

const RECORD_PREFIX: &str = "digit-lab-run:";
const VIEW_KEY: &str = "digit-lab-runs-view";

fn store() -> Result<web_sys::Storage, String> {
    web_sys::window()
        .ok_or("no window")?
        .local_storage()
        .map_err(|e| format!("{e:?}"))?
        .ok_or_else(|| "this browser keeps no local storage for the page".into())
}

/// Every record kept (oldest first) and the view; a record this version cannot read is left
/// in place and skipped, with a warning in the console.
pub fn read_history() -> Result<(Vec<RunRecord>, HistoryView), String> {
    let store = store()?;
    let mut records = Vec::new();
    for i in 0..store.length().unwrap_or(0) {
        let Some(key) = store.key(i).ok().flatten() else {
            continue;
        };
        if !key.starts_with(RECORD_PREFIX) {
            continue;
        }
        let Some(text) = store.get_item(&key).ok().flatten() else {
            continue;
        };
        match serde_json::from_str::<RunRecord>(&text) {
            Ok(record) => records.push(record),
            Err(e) => web_sys::console::warn_1(
                &format!("run history: skipped the record {key} this page cannot read: {e}").into(),
            ),
        }
    }
    records.sort_by(|a, b| a.started.total_cmp(&b.started));
    let view = store
        .get_item(VIEW_KEY)
        .ok()
        .flatten()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    Ok((records, view))
}

pub fn write_record(record: &RunRecord) -> Result<(), String> {
    let text = serde_json::to_string(record).map_err(|e| e.to_string())?;
    store()?
        .set_item(&format!("{RECORD_PREFIX}{}", record.id), &text)
        .map_err(|e| quota(&e))
}

pub fn delete_record(id: &str) -> Result<(), String> {
    store()?
        .remove_item(&format!("{RECORD_PREFIX}{id}"))
        .map_err(|e| format!("{e:?}"))
}

pub fn write_view(view: &HistoryView) -> Result<(), String> {
    let text = serde_json::to_string(view).map_err(|e| e.to_string())?;
    store()?.set_item(VIEW_KEY, &text).map_err(|e| quota(&e))
}

fn quota(e: &wasm_bindgen::JsValue) -> String {
    let name = js_sys::Reflect::get(e, &"name".into())
        .ok()
        .and_then(|n| n.as_string());
    match name.as_deref() {
        Some("QuotaExceededError") => {
            "the browser's local storage for this page is full (delete old runs in the Runs tab)"
                .into()
        }
        _ => format!("{e:?}"),
    }
}

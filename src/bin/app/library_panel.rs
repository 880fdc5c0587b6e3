//! The library of models kept in this browser (use, rename, download, delete) and the prompt
//! for a finished run that was kept aside because it is far worse than the current model.

use digit_lab::protocol::{Failure, Operation, Problem};
use js_sys::Uint8Array;
use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};

use crate::effects;
use crate::logic::library::{Entry, EntryKind, Load};
use crate::state::AppState;
use crate::storage;
use crate::widgets::percent;

/// "This run reached X%; the current model has Y%": adopt the run's model or keep the current
/// one (the run stays in the library either way).
#[component]
pub fn KeptRunPrompt() -> impl IntoView {
    let state = expect_context::<AppState>();
    let kept = Memo::new(move |_| {
        state.library.with(|l| {
            l.kept.as_ref().map(|k| {
                (
                    k.val_accuracy,
                    k.current_val_accuracy,
                    k.current_name.clone(),
                )
            })
        })
    });
    let adopt = move |_| {
        if let Some(k) = state.library.with_untracked(|l| l.kept.clone()) {
            let bytes = Uint8Array::from(&k.bytes[..]);
            effects::send_load(state, Load::Kept(k.entry), k.file_name, bytes);
        }
    };
    let waiting = move || state.library.with(|l| l.loading()) || state.run.with(|r| r.is_busy());
    view! {
        <Show when=move || kept.with(Option::is_some)>
            <div class="kept-run" data-testid="kept-run" role="status">
                <p>
                    {move || kept.get().map(|(run, current, name)| format!(
                        "This run reached {} validation accuracy; the current model ({name}) \
                         has {}. The run is kept in the library either way.",
                        run.map_or("-".into(), percent),
                        percent(current),
                    ))}
                </p>
                <div class="buttons">
                    <button data-testid="kept-run-use" on:click=adopt disabled=waiting>
                        "Use this run's model"
                    </button>
                    <button data-testid="kept-run-dismiss"
                        on:click=move |_| state.library.update(|l| l.dismiss_kept())>
                        "Keep the current model"
                    </button>
                </div>
            </div>
        </Show>
    }
}

#[component]
pub fn LibraryPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let ids = Memo::new(move |_| {
        state
            .library
            .with(|l| l.entries.iter().map(|e| e.id.clone()).collect::<Vec<_>>())
    });
    let combination = Memo::new(move |_| state.library.with(|l| l.combination()));
    let cannot_combine = move || {
        combination.with(Option::is_none)
            || state.run.with(|r| r.is_busy())
            || state.library.with(|l| l.loading())
    };
    let combine = move |_| {
        if let Some((entries, name)) = combination.get_untracked() {
            leptos::task::spawn_local(effects::combine_entries(state, entries, name));
        }
    };
    view! {
        <h3>"Models kept in this browser"</h3>
        <table class="library" data-testid="model-library"
            data-saving=move || state.library.with(|l| l.saving > 0).to_string()>
            <thead>
                <tr>
                    <th title="tick models to combine into an ensemble">"combine"</th>
                    <th>"name"</th><th>"model"</th><th>"validation accuracy"</th>
                    <th>"saved"</th><th>"size"</th><th></th>
                </tr>
            </thead>
            <tbody>
                <For each=move || ids.get() key=|id| id.clone()
                    children=move |id| view! { <LibraryRow id=id /> } />
            </tbody>
        </table>
        <div class="buttons">
            <button data-testid="combine-models" on:click=combine disabled=cannot_combine
                title="average the ticked models' predictions: train them with the same seed \
                       and a different ensemble member number">
                "Combine ticked models into an ensemble"
            </button>
        </div>
        <Show when=move || ids.with(Vec::is_empty)>
            <p class="subtle">
                "None yet: each training run's best model and each model file you load are \
                 kept here."
            </p>
        </Show>
    }
}

/// One entry; its row stays in place while the entry changes (a rename in progress survives
/// a checkpoint arriving).
#[component]
fn LibraryRow(id: String) -> impl IntoView {
    let state = expect_context::<AppState>();
    let id = StoredValue::new(id);
    let entry = Memo::new(move |_| {
        state
            .library
            .with(|l| id.with_value(|id| l.entry(id).cloned()))
    });
    let current = Memo::new(move |_| state.library.with(|l| id.with_value(|id| l.is_current(id))));
    let deletable =
        Memo::new(move |_| state.library.with(|l| id.with_value(|id| l.can_delete(id))));
    let editing = RwSignal::new(false);
    let confirm_delete = RwSignal::new(false);
    let field = move |f: fn(&Entry) -> String| {
        move || entry.with(|e| e.as_ref().map(f).unwrap_or_default())
    };
    let broken = move || entry.with(|e| e.as_ref().and_then(|e| e.broken.clone()));

    let cannot_use = move || {
        current.get()
            || broken().is_some()
            || state.run.with(|r| r.is_busy())
            || state.library.with(|l| l.loading())
    };
    let use_it = move |_| {
        if let Some(entry) = entry.get_untracked() {
            leptos::task::spawn_local(effects::load_entry(state, entry, false));
        }
    };
    let download = move |_| {
        let Some(entry) = entry.get_untracked() else {
            return;
        };
        leptos::task::spawn_local(async move {
            let result = match storage::read_file(&entry.id).await {
                Ok(bytes) => {
                    storage::download(&entry.download_name(), &bytes, "application/octet-stream")
                        .map_err(|e| format!("{e:?}"))
                }
                Err(e) => Err(format!("could not read \"{}\": {e}", entry.name)),
            };
            if let Err(e) = result {
                state.report(Failure::new(Operation::Download, Problem::Browser(e)));
            }
        });
    };
    let rename = move |event: web_sys::Event| {
        let Some(input) = event
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        else {
            return;
        };
        let ops = state
            .library
            .try_update(|l| id.with_value(|id| l.rename(id, &input.value())));
        effects::run(state, ops.unwrap_or_default());
        editing.set(false);
    };
    let on_key = move |event: web_sys::KeyboardEvent| {
        if event.key() == "Escape" {
            editing.set(false);
        }
    };
    // Deleting asks once more: the entry may be the only copy of a long run.
    let delete = move |_| {
        if !confirm_delete.get_untracked() {
            return confirm_delete.set(true);
        }
        let ops = state
            .library
            .try_update(|l| id.with_value(|id| l.delete(id)));
        effects::run(state, ops.unwrap_or_default());
    };

    view! {
        <tr data-testid="library-entry" data-id=move || id.get_value()
            data-current=move || current.get().to_string()
            data-broken=move || broken().is_some().to_string()
            data-name=field(|e| e.name.clone())
            class:current=move || current.get() class:broken=move || broken().is_some()>
            <td>
                <input type="checkbox" data-testid="library-select"
                    prop:checked=move || state.library.with(|l| {
                        id.with_value(|id| l.selected.iter().any(|s| s == id))
                    })
                    on:change=move |_| state.library.update(|l| {
                        id.with_value(|id| l.toggle_selected(id))
                    }) />
            </td>
            <td class="name">
                <Show when=move || editing.get()
                    fallback=move || view! {
                        <span class="entry-name">{field(|e| e.name.clone())}</span>
                        <Show when=move || current.get()>
                            <span class="badge">"in use"</span>
                        </Show>
                        {move || broken().map(|why| view! {
                            <span class="badge bad" title=why.clone()>"broken"</span>
                            <div class="subtle broken-reason">{why}</div>
                        })}
                    }>
                    <input type="text" data-testid="library-name-input"
                        prop:value=field(|e| e.name.clone()) on:change=rename on:keydown=on_key />
                </Show>
            </td>
            <td>{field(describe_model)}</td>
            <td>{field(|e| e.val_accuracy.map_or("-".into(), percent))}</td>
            <td>{field(|e| saved_at(e.created))}</td>
            <td>{field(|e| format!("{:.0} KB", e.size as f64 / 1000.0))}</td>
            <td class="entry-actions">
                <button data-testid="library-use" on:click=use_it disabled=cannot_use>
                    "use"
                </button>
                <button data-testid="library-rename"
                    on:click=move |_| editing.update(|e| *e = !*e)>"rename"</button>
                <button data-testid="library-download" on:click=download>"download"</button>
                <button data-testid="library-delete" on:click=delete
                    on:blur=move |_| confirm_delete.set(false)
                    data-confirm=move || confirm_delete.get().to_string()
                    disabled=move || !deletable.get()
                    title=move || if deletable.get() { "" } else {
                        "the model in use (or a run still training) cannot be deleted"
                    }>
                    {move || if confirm_delete.get() { "really delete?" } else { "delete" }}
                </button>
            </td>
        </tr>
    }
}

fn describe_model(entry: &Entry) -> String {
    let preset = entry.preset.clone().unwrap_or_else(|| "custom".into());
    if entry.members > 1 {
        return format!("ensemble of {} models ({preset} first)", entry.members);
    }
    match (entry.kind, entry.epoch) {
        (EntryKind::Run, Some(epoch)) => {
            format!("{preset}, trained here (best epoch {})", epoch + 1)
        }
        (EntryKind::Run, None) => format!("{preset}, trained here"),
        (EntryKind::File, _) => format!("{preset}, from a file"),
    }
}

/// The date and time in the browser's own format.
pub fn saved_at(ms: f64) -> String {
    let date = js_sys::Date::new(&JsValue::from_f64(ms));
    date.to_locale_string("default", &JsValue::UNDEFINED).into()
}

//! The Runs tab: every training run kept in this browser as a sortable table (recipe, data,
//! epochs, best validation accuracy, duration, device, outcome, its model in the library) and
//! the curves of the ticked runs overlaid on one chart. The history survives a reload
//! (`history_storage.rs`).

use std::sync::Arc;

use digit_lab::protocol::{Failure, Operation, Problem};
use leptos::prelude::*;
use plotters::prelude::{RGBColor, SeriesLabelPosition};

use crate::charts::{Series, draw_lines};
use crate::effects;
use crate::history_storage;
use crate::library_panel::saved_at;
use crate::logic::data::thousands;
use crate::logic::history::{HistoryMetric, MAX_OVERLAID, RunRecord, SortKey};
use crate::logic::recipe::RecipeForm;
use crate::state::AppState;
use crate::train_panel::TrainSettings;
use crate::widgets::{LiveCanvas, percent};

/// One colour per overlaid run, distinct on light and dark backgrounds alike.
const PALETTE: [RGBColor; MAX_OVERLAID] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

fn save_view(state: AppState) {
    let view = state.history.with_untracked(|h| h.view.clone());
    if let Err(e) = history_storage::write_view(&view) {
        let problem = Problem::Browser(format!("could not keep the Runs tab's choices: {e}"));
        state.report(Failure::new(Operation::Storage, problem));
    }
}

#[component]
pub fn RunsPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let order = Memo::new(move |_| {
        state
            .history
            .with(|h| h.sorted().iter().map(|r| r.id.clone()).collect::<Vec<_>>())
    });
    let header = move |key: SortKey| {
        let arrow = move || {
            state.history.with(|h| match (h.sort == key, h.descending) {
                (false, _) => "",
                (true, true) => " ▼",
                (true, false) => " ▲",
            })
        };
        view! {
            <th>
                <button class="link" data-testid=format!("runs-sort-{}", key.id())
                    on:click=move |_| state.history.update(|h| h.sort_by(key))>
                    {key.title()}{arrow}
                </button>
            </th>
        }
    };
    view! {
        <section class="panel runs-panel">
            <h2>"Run history"</h2>
            <p class="subtle">
                "Every training run in this browser, kept across reloads. Tick runs to overlay \
                 their curves; a run's model stays in the Model tab's library until you \
                 delete it there."
            </p>
            <OverlayChart />
            <div class="table-scroll">
            <table class="runs" data-testid="run-history">
                <thead>
                    <tr>
                        <th title=format!("overlay up to {MAX_OVERLAID} runs")>"overlay"</th>
                        <th>"run"</th>
                        {header(SortKey::Started)}
                        {header(SortKey::Model)}
                        <th>"data"</th>
                        {header(SortKey::Epochs)}
                        {header(SortKey::Accuracy)}
                        {header(SortKey::Duration)}
                        {header(SortKey::Device)}
                        <th>"outcome"</th>
                        <th>"model"</th>
                        <th></th>
                    </tr>
                </thead>
                <tbody>
                    <For each=move || order.get() key=|id| id.clone()
                        children=move |id| view! { <RunRow id=id /> } />
                </tbody>
            </table>
            </div>
            <Show when=move || order.with(Vec::is_empty)>
                <p class="subtle" data-testid="runs-empty">
                    "No runs yet: each run you start on the Train tab is recorded here."
                </p>
            </Show>
        </section>
    }
}

#[component]
fn OverlayChart() -> impl IntoView {
    let state = expect_context::<AppState>();
    let metric = Memo::new(move |_| state.history.with(|h| h.view.metric));
    let ticked = Memo::new(move |_| state.history.with(|h| h.view.selected.len()));
    let track = Signal::derive(move || {
        state.history.with(|h| {
            let epochs: usize = h.overlaid().iter().map(|r| r.epochs.len()).sum();
            epochs + h.view.selected.len() * 1000 + h.view.metric as usize * 100_000
        })
    });
    let draw = Arc::new(move |canvas: &web_sys::HtmlCanvasElement| {
        state.history.with_untracked(|h| {
            let metric = h.view.metric;
            let runs = h.overlaid();
            let curves: Vec<(String, Vec<(f64, f64)>)> =
                runs.iter().map(|r| (r.label(), r.curve(metric))).collect();
            let x_max = runs
                .iter()
                .map(|r| r.config.epochs.max(r.epochs.len()))
                .max()
                .unwrap_or(1) as f64;
            let series: Vec<Series> = curves
                .iter()
                .zip(PALETTE)
                .map(|((name, points), color)| Series {
                    name,
                    color,
                    points,
                    markers: true,
                })
                .collect();
            let (range, legend) = if metric.is_accuracy() {
                let low = curves
                    .iter()
                    .flat_map(|(_, p)| p.iter().map(|p| p.1))
                    .fold(1.0, f64::min);
                (
                    Some(((low - 0.02).clamp(0.0, 0.9), 1.0)),
                    SeriesLabelPosition::LowerRight,
                )
            } else {
                (None, SeriesLabelPosition::UpperRight)
            };
            let _ = draw_lines(canvas, metric.title(), x_max, range, legend, &series);
        })
    });
    let choose = move |ev| {
        if let Some(metric) = HistoryMetric::from_id(&event_target_value(&ev)) {
            state.history.update(|h| h.view.metric = metric);
            save_view(state);
        }
    };
    view! {
        <div class="runs-overlay">
            <label class="field">
                <span>"Overlay"</span>
                <select data-testid="runs-metric" on:change=choose>
                    {HistoryMetric::ALL.iter().map(|&m| view! {
                        <option value=m.id() selected=move || metric.get() == m>
                            {m.title()}
                        </option>
                    }).collect_view()}
                </select>
            </label>
            <span class="subtle" data-testid="runs-overlaid" data-count=move || ticked.get()>
                {move || match ticked.get() {
                    0 => "no runs ticked".to_string(),
                    1 => "1 run".to_string(),
                    n => format!("{n} runs"),
                }}
            </span>
            <LiveCanvas draw=draw track=track testid="runs-chart" />
        </div>
    }
}

#[component]
fn RunRow(id: String) -> impl IntoView {
    let state = expect_context::<AppState>();
    let settings = expect_context::<TrainSettings>();
    let id = StoredValue::new(id);
    let record = Memo::new(move |_| {
        state
            .history
            .with(|h| id.with_value(|id| h.record(id).cloned()))
    });
    let active = Memo::new(move |_| {
        state
            .history
            .with(|h| id.with_value(|id| h.active.as_deref() == Some(id)))
    });
    let field = move |f: fn(&RunRecord) -> String| {
        move || record.with(|r| r.as_ref().map(f).unwrap_or_default())
    };
    let entry = Memo::new(move |_| {
        state
            .library
            .with(|l| id.with_value(|id| l.entry(id).cloned()))
    });
    let current = Memo::new(move |_| state.library.with(|l| id.with_value(|id| l.is_current(id))));
    let selected = move || {
        state
            .history
            .with(|h| id.with_value(|id| h.is_selected(id)))
    };

    // A full overlay takes no more ticks (the checkbox says why).
    let full = move || {
        !selected()
            && state
                .history
                .with(|h| h.view.selected.len() >= MAX_OVERLAID)
    };
    let toggle = move |_| {
        state
            .history
            .update(|h| id.with_value(|id| _ = h.toggle_selected(id)));
        save_view(state);
    };
    let use_model = move |_| {
        if let Some(entry) = entry.get_untracked() {
            leptos::task::spawn_local(effects::load_entry(state, entry, false));
        }
    };
    let cannot_use = move || {
        current.get()
            || entry.with(|e| e.as_ref().is_none_or(|e| e.broken.is_some()))
            || state.run.with(|r| r.is_busy())
            || state.library.with(|l| l.loading())
    };
    let use_recipe = move |_| {
        if let Some(r) = record.get_untracked() {
            settings.use_form(RecipeForm::from_config(r.preset, &r.config));
        }
    };
    let delete = move |_| {
        let deleted = state
            .history
            .try_update(|h| id.with_value(|id| h.delete(id)));
        if deleted == Some(true) {
            if let Err(e) = history_storage::delete_record(&id.get_value()) {
                web_sys::console::warn_1(&format!("run history: {e}").into());
            }
            save_view(state);
        }
    };
    let model_text = move || match (entry.get(), current.get()) {
        (Some(_), true) => "in use".to_string(),
        (Some(e), false) => e
            .val_accuracy
            .map_or(e.name.clone(), |a| format!("{} ({})", e.name, percent(a))),
        (None, _) if active.get() => "not saved yet".to_string(),
        (None, _) => "not kept (or deleted)".to_string(),
    };

    view! {
        <tr data-testid="run-row" data-run=move || id.get_value()
            data-number=field(|r| r.number.to_string())
            data-accuracy=field(|r| r.best_accuracy().map(|a| a.to_string()).unwrap_or_default())
            data-epochs=field(|r| r.epochs.len().to_string())
            class:active=move || active.get()>
            <td>
                <input type="checkbox" data-testid="run-select"
                    prop:checked=selected on:change=toggle disabled=full
                    title=move || if full() {
                        format!("at most {MAX_OVERLAID} runs overlay on one chart")
                    } else {
                        String::new()
                    } />
            </td>
            <td>{field(|r| r.label())}</td>
            <td>{field(|r| saved_at(r.started))}</td>
            <td title=field(recipe_summary)>{field(|r| r.preset.id().to_string())}</td>
            <td>{field(|r| format!("{} ({} + {} rows)", r.data, thousands(r.train_rows), thousands(r.validation_rows)))}</td>
            <td>{field(|r| format!("{}/{}", r.epochs.len(), r.config.epochs))}</td>
            <td data-testid="run-accuracy">
                {field(|r| r.best_accuracy().map_or("-".into(), percent))}
            </td>
            <td>{field(|r| r.duration_text())}</td>
            <td>{field(|r| r.device.clone())}</td>
            <td data-testid="run-outcome">
                {move || record.with(|r| r.as_ref().map(|r| r.outcome(active.get())))}
            </td>
            <td data-testid="run-model">{model_text}</td>
            <td class="entry-actions">
                <button data-testid="run-use-model" on:click=use_model disabled=cannot_use
                    title="make this run's best model the current one">"use model"</button>
                <button data-testid="run-use-recipe" on:click=use_recipe
                    disabled=move || state.run.with(|r| r.is_busy())
                    title="fill the Train tab's form with this run's recipe">"use recipe"</button>
                <button data-testid="run-delete" on:click=delete disabled=move || active.get()
                    title="forget this run (its model stays in the library)">"forget"</button>
            </td>
        </tr>
    }
}

/// The recipe in one line, for the model cell's tooltip.
fn recipe_summary(r: &RunRecord) -> String {
    let c = &r.config;
    format!(
        "{}: batch {}, {} lr {}, seed {}, member {}, augmentation rotation {}° zoom {}",
        r.preset.title(),
        c.batch_size,
        c.optimizer.name(),
        c.learning_rate,
        c.seed,
        c.member,
        c.augmentation.rotation_degrees,
        c.augmentation.zoom
    )
}

//! Load train.csv / test.csv and explore them: summaries, label counts, sample digits and a live
//! preview of the augmentation settings.

use std::rc::Rc;
use std::sync::Arc;

use digit_lab::protocol::{Command, DataRole, DataSummary, DigitImage};
use leptos::prelude::*;

use crate::charts::draw_bars;
use crate::effects::load_sample_data;
use crate::logic::data::{DataState, LoadStage};
use crate::logic::recipe::RecipeForm;
use crate::state::AppState;
use crate::train_panel::TrainSettings;
use crate::widgets::{DigitGrid, FileDrop, LiveCanvas, ProgressBar, load_csv_file};
use crate::worker;

const SAMPLE_COUNT: usize = 20;
const PREVIEW_COUNT: usize = 8;

#[component]
pub fn DataPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let settings = expect_context::<TrainSettings>();
    let sample_seed = RwSignal::new(1u64);

    // Memos, so that the replies these effects ask for (which change the data state) do not
    // run them again.
    let train = Memo::new(move |_| state.data.with(|d| d.train.clone()));
    let has_device = Memo::new(move |_| state.connection.with(|c| c.device.is_some()));
    // New train data or a new seed: fetch a fresh sample grid.
    Effect::new(move |_| {
        if train.with(Option::is_some) {
            worker::send(Command::Samples {
                role: DataRole::Train,
                count: SAMPLE_COUNT,
                seed: sample_seed.get(),
            });
        }
    });
    // Augmentation settings changed: refresh the preview (invalid settings just wait).
    Effect::new(move |_| {
        for field in [
            settings.rotation,
            settings.zoom,
            settings.width_shift,
            settings.height_shift,
            settings.shear,
        ] {
            field.track();
        }
        let loaded = train.with(Option::is_some);
        if let (true, true, Ok(config)) = (loaded, has_device.get(), settings.augmentation()) {
            worker::send(Command::AugmentPreview {
                config,
                count: PREVIEW_COUNT,
                seed: sample_seed.get(),
            });
        }
    });

    let counts_track = Signal::derive(move || train.with(|d| d.as_ref().map_or(0, |d| d.rows)));
    let draw_counts = Arc::new(move |canvas: &web_sys::HtmlCanvasElement| {
        if let Some(counts) = train.with_untracked(|d| d.as_ref().and_then(|d| d.label_counts)) {
            let values: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
            let _ = draw_bars(canvas, &values, None, |v| format!("{v:.0}"));
        }
    });

    let test = move || state.data.with(|d| d.test.clone());
    let samples = Signal::derive(move || state.data.with(|d| d.samples.clone()));

    view! {
        <section class="panel data-panel">
            <div class="loaders">
                <Loader role=DataRole::Train />
                <Loader role=DataRole::Test />
            </div>
            <SampleData />
            <DataError />
            <div data-testid="data-summary" class="summary">
                {move || train.get().map(|d| view! { <Summary summary=d /> })}
                {move || test().map(|d| view! { <Summary summary=d /> })}
                {move || state.data.with(|d| d.is_empty()).then(|| view! {
                    <p class="hint">
                        "No data yet. Load Kaggle's Digit Recognizer train.csv (and test.csv) — "
                        "plain or .gz. Nothing leaves this tab. No files at hand? Try the "
                        "built-in sample."
                    </p>
                })}
            </div>
            <Show when=move || train.with(Option::is_some)>
                <div class="columns">
                    <div>
                        <h3>"Label counts"</h3>
                        <LiveCanvas draw=draw_counts.clone() track=counts_track testid="label-chart"
                            class="chart small" />
                    </div>
                    <div>
                        <h3>
                            "Sample digits "
                            <button data-testid="resample-button"
                                on:click=move |_| sample_seed.update(|s| *s += 1)>
                                "Re-sample"
                            </button>
                        </h3>
                        <DigitGrid images=samples
                            testid="sample-grid"
                            caption=|d| d.label.map_or(String::new(), |l| format!("label {l}"))  />
                    </div>
                </div>
                <h3>"Augmentation preview (current settings on the Train tab)"</h3>
                <div class="augment" data-testid="augment-preview">
                    <DigitGrid images=preview_images(state, |p| &p.0)
                        testid="augment-originals" caption=|_| "original".into() />
                    <DigitGrid images=preview_images(state, |p| &p.1)
                        testid="augment-augmented" caption=|_| "augmented".into() />
                </div>
            </Show>
            <p class="credit">
                "MNIST digits by Yann LeCun, Corinna Cortes and Christopher Burges (CC BY-SA 3.0), "
                "in Kaggle's Digit Recognizer format."
            </p>
        </section>
    }
}

/// "Try with sample data", and while the sample is loaded, what it is and how to get the real
/// files.
#[component]
fn SampleData() -> impl IntoView {
    let state = expect_context::<AppState>();
    let settings = expect_context::<TrainSettings>();
    let fetching = RwSignal::new(false);
    let load = move |_| {
        fetching.set(true);
        leptos::task::spawn_local(async move {
            load_sample_data(state).await;
            fetching.set(false);
        });
    };
    let notice = Memo::new(move |_| state.data.with(DataState::sample_notice));
    let sample_train = Memo::new(move |_| state.data.with(|d| d.is_sample(DataRole::Train)));
    view! {
        <div class="sample-data">
            <button data-testid="sample-data" on:click=load disabled=move || fetching.get()
                title="5,000 labelled and 1,000 unlabelled digits from Kaggle's files, built in">
                {move || if fetching.get() { "Fetching the sample…" } else { "Try with sample data" }}
            </button>
            {move || notice.get().map(|text| view! {
                <p class="hint" data-testid="sample-notice">{text}</p>
            })}
            <Show when=move || sample_train.get()>
                <p class="hint">
                    {format!("A quick recipe for the sample: {}. ", quick_recipe_summary())}
                    <button data-testid="sample-recipe"
                        on:click=move |_| settings.use_form(RecipeForm::for_sample())>
                        "Use it on the Train tab"
                    </button>
                </p>
            </Show>
        </div>
    }
}

fn quick_recipe_summary() -> String {
    let form = RecipeForm::for_sample();
    format!("the {} preset for {} epochs", form.preset.id(), form.epochs)
}

type Preview = (Vec<DigitImage>, Vec<DigitImage>);

/// One side of the augmentation preview.
fn preview_images(
    state: AppState,
    side: fn(&Preview) -> &Vec<DigitImage>,
) -> Signal<Vec<DigitImage>> {
    Signal::derive(move || {
        state.data.with(|d| {
            d.augment_preview
                .as_ref()
                .map(|p| side(p).clone())
                .unwrap_or_default()
        })
    })
}

#[component]
fn Loader(role: DataRole) -> impl IntoView {
    let state = expect_context::<AppState>();
    let (label, testid, accept) = match role {
        DataRole::Train => ("Load train.csv", "train-file", ".csv,.gz,text/csv"),
        DataRole::Test => ("Load test.csv", "test-file", ".csv,.gz,text/csv"),
    };
    let progress = Memo::new(move |_| state.data.with(|d| d.load(role)));
    let on_file = Rc::new(move |file: web_sys::File| load_csv_file(state, role, file));
    let fraction = Signal::derive(move || progress.get().map_or(0.0, |p| p.fraction));
    let text = Signal::derive(move || {
        progress.get().map_or(String::new(), |p| {
            let stage = match p.stage {
                LoadStage::Reading => "reading",
                LoadStage::Decompressing => "decompressing",
                LoadStage::Parsing => "parsing",
            };
            format!("{stage} {:.0}%", p.fraction * 100.0)
        })
    });
    let (progress_id, cancel_id) = match role {
        DataRole::Train => ("train-progress", "train-cancel"),
        DataRole::Test => ("test-progress", "test-cancel"),
    };
    // Once the worker has the file, only replacing the worker stops its parse.
    let in_worker = move || {
        progress
            .get()
            .is_some_and(|p| p.stage != LoadStage::Reading)
    };
    view! {
        <div class="loader">
            <FileDrop label=label accept=accept testid=testid on_file=on_file />
            <Show when=move || progress.with(Option::is_some)>
                <ProgressBar fraction=fraction label=text testid=progress_id />
            </Show>
            <Show when=in_worker>
                <button data-testid=cancel_id on:click=move |_| worker::cancel_loads(state)
                    title="Replaces the background worker (a parse cannot be stopped inside it)"
                    disabled=move || state.run.with(|r| r.is_busy())>
                    "Cancel"
                </button>
            </Show>
        </div>
    }
}

#[component]
fn Summary(summary: DataSummary) -> impl IntoView {
    let kind = match summary.role {
        DataRole::Train => "train",
        DataRole::Test => "test",
    };
    let counts = summary.label_counts.map(|counts| {
        counts
            .iter()
            .enumerate()
            .map(|(label, count)| format!("{label}: {count}"))
            .collect::<Vec<_>>()
            .join(" · ")
    });
    view! {
        <div class="summary-item" data-role=kind data-rows=summary.rows>
            <strong>{summary.file_name.clone()}</strong>
            {format!(" — {} rows ({kind}), parsed in {:.2} s", summary.rows, summary.seconds)}
            {counts.map(|c| view! { <div class="counts">{c}</div> })}
        </div>
    }
}

#[component]
fn DataError() -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <Show when=move || state.data.with(|d| d.error.is_some())>
            <div class="error" data-testid="data-error" role="alert">
                {move || state.data.with(|d| d.error.clone()).map(|(role, e)| {
                    let kept = state
                        .data
                        .with(|d| d.summary(role).map(|s| s.file_name.clone()));
                    view! {
                        <p><strong>"Could not load this file. "</strong>{e.to_string()}</p>
                        <p class="hint">{kept.map_or_else(
                            || "Nothing was loaded; choose a corrected file.".to_string(),
                            |name| format!("{name} is still loaded and in use."),
                        )}</p>
                    }
                })}
            </div>
        </Show>
    }
}

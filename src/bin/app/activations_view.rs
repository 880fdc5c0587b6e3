//! The Insights tab's view of the network itself: one digit's activation grids, layer by
//! layer, and the first layer's filters as images, both refreshed while training runs (after
//! every epoch and every few seconds), with a digit that can be pinned through the refreshes.

use std::cell::Cell;
use std::rc::Rc;

use digit_lab::protocol::{Command, ImageRef, LayerMaps};
use leptos::html::Canvas;
use leptos::prelude::*;

use crate::images::{Digit, Palette, context_2d, paint};
use crate::logic::run::RunStatus;
use crate::state::AppState;
use crate::worker;

/// Feature maps per row in the activation grids, as in the notebooks.
const MAPS_PER_ROW: usize = 16;
/// How often the grids and filters are asked for while a run trains, between epochs.
const LIVE_REFRESH_MS: u32 = 4_000;

/// The image the activation grids show; other panels (draw, galleries) set it.
#[derive(Clone, Copy)]
pub struct ActivationTarget(pub RwSignal<Option<ImageRef>>);

/// The live views' two choices.
#[derive(Clone, Copy)]
struct LiveChoice {
    /// Refresh while training (off: only when training is not running).
    live: RwSignal<bool>,
    /// The pinned digit's pixels: shown instead of whatever the other panels choose, through
    /// refreshes, new runs and new models.
    pinned: RwSignal<Option<Vec<u8>>>,
}

/// Ask for the activation grids and the filters whenever the image or the weights change
/// (a new model, each epoch) and, while a run trains, every [`LIVE_REFRESH_MS`] once the
/// previous answer came back.
pub fn live_refresh(
    state: AppState,
    target: RwSignal<Option<ImageRef>>,
    model_version: Memo<u64>,
    training: Memo<bool>,
) {
    let choice = LiveChoice {
        live: RwSignal::new(true),
        pinned: RwSignal::new(None),
    };
    provide_context(choice);
    let image = move || {
        choice
            .pinned
            .get()
            .map(ImageRef::Pixels)
            .or_else(|| target.get())
    };
    // The number of answers that will have come back once the requests sent are answered.
    let expected = Rc::new(Cell::new(0u64));
    let send = {
        let expected = expected.clone();
        move |image: Option<ImageRef>| {
            let mut requests = 1;
            if let Some(image) = image {
                worker::send(Command::Activations { image });
                requests += 1;
            }
            worker::send(Command::Filters);
            let answered = state.insights.with_untracked(|i| i.refreshes);
            expected.set(expected.get().max(answered) + requests);
        }
    };
    let insights_version = Memo::new(move |_| state.insights.with(|i| i.insights_version));
    let send_now = send.clone();
    Effect::new(move |_| {
        let _ = insights_version.get();
        let has_model = model_version.get() > 0 || training.get();
        let allowed = !training.get() || choice.live.get();
        let image = image();
        if has_model && allowed {
            send_now(image);
        }
    });
    let tick = gloo::timers::callback::Interval::new(LIVE_REFRESH_MS, move || {
        let running = state.run.with_untracked(|r| r.status == RunStatus::Running);
        let answered = state.insights.with_untracked(|i| i.refreshes) >= expected.get();
        if running && answered && choice.live.get_untracked() {
            let image = choice
                .pinned
                .get_untracked()
                .map(ImageRef::Pixels)
                .or_else(|| target.get_untracked());
            send(image);
        }
    });
    // The panel lives as long as the page.
    tick.forget();
}

/// A cheap fingerprint of an image, so a test (or a reader of the DOM) can tell whether the
/// input changed between refreshes.
fn fingerprint(pixels: &[u8]) -> u64 {
    pixels.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &p| {
        (hash ^ u64::from(p)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[component]
pub fn ActivationsView() -> impl IntoView {
    let state = expect_context::<AppState>();
    let target = expect_context::<ActivationTarget>().0;
    let choice = expect_context::<LiveChoice>();
    let test_row = RwSignal::new(String::from("0"));
    let validation_row = RwSignal::new(String::from("0"));
    let show_validation = move |_| {
        if let Ok(i) = validation_row.get_untracked().parse() {
            target.set(Some(ImageRef::Validation(i)))
        }
    };
    let show_test = move |_| {
        if let Ok(i) = test_row.get_untracked().parse() {
            target.set(Some(ImageRef::Test(i)))
        }
    };
    let pin = move |ev| {
        let pixels = event_target_checked(&ev)
            .then(|| {
                state
                    .insights
                    .with_untracked(|s| s.activations.as_ref().map(|a| a.input.clone()))
            })
            .flatten();
        choice.pinned.set(pixels);
    };
    let nothing_to_pin = move || {
        choice.pinned.with(Option::is_none) && state.insights.with(|s| s.activations.is_none())
    };
    view! {
        <div class="activations" data-testid="activations"
            data-refreshes=move || state.insights.with(|s| s.refreshes)>
            <h3>"Activations, layer by layer"</h3>
            <div class="field-row">
                <label class="field"><span>"Validation digit #"</span>
                    <input type="number" min="0" class="tiny"
                        data-testid="activation-validation-index"
                        prop:value=move || validation_row.get()
                        on:input=move |ev| validation_row.set(event_target_value(&ev)) /></label>
                <button data-testid="activation-validation" on:click=show_validation>
                    "Show validation digit"
                </button>
                <label class="field"><span>"Test digit #"</span>
                    <input type="number" min="0" class="tiny" data-testid="activation-test-index"
                        prop:value=move || test_row.get()
                        on:input=move |ev| test_row.set(event_target_value(&ev)) /></label>
                <button data-testid="activation-test"
                    disabled=move || state.data.with(|d| d.test.is_none())
                    on:click=show_test>"Show test digit"</button>
            </div>
            <label class="check">
                <input type="checkbox" data-testid="pin-digit"
                    prop:checked=move || choice.pinned.with(Option::is_some)
                    disabled=nothing_to_pin on:change=pin />
                "Pin this digit: keep it through refreshes and new runs, whatever is clicked \
                 elsewhere"
            </label>
            <label class="check">
                <input type="checkbox" data-testid="live-insights"
                    prop:checked=move || choice.live.get()
                    on:change=move |ev| choice.live.set(event_target_checked(&ev)) />
                {format!(
                    "Refresh while training: after every epoch and every {} s",
                    LIVE_REFRESH_MS / 1000
                )}
            </label>
            {move || state.insights.with(|s| s.activations.clone()).map(|a| view! {
                <div class="activation-input" data-testid="activation-input"
                    data-fingerprint=fingerprint(&a.input).to_string()>
                    <Digit pixels=a.input.clone() size=84 palette=Palette::Viridis />
                    <span class="subtle">
                        {move || if choice.pinned.with(Option::is_some) {
                            "input (pinned)"
                        } else {
                            "input"
                        }}
                    </span>
                </div>
                {a.layers.into_iter().map(|layer| view! { <LayerGrid layer=layer /> })
                    .collect_view()}
            })}
            <FiltersView />
        </div>
    }
}

/// The first convolution's kernels, each stretched to black..white: the strokes and edges the
/// network learns to look for, sharpening epoch by epoch.
#[component]
fn FiltersView() -> impl IntoView {
    let state = expect_context::<AppState>();
    move || {
        state
            .insights
            .with(|s| s.filters.clone())
            .map(|filters| match filters {
                Some(layer) => view! {
                    <h3>"First layer's filters"</h3>
                    <LayerGrid layer=layer testid="filter-grid" palette=Palette::Gray />
                }
                .into_any(),
                None => view! {
                    <p class="subtle" data-testid="no-filters">
                        "This model has no convolution, so no filters to show."
                    </p>
                }
                .into_any(),
            })
    }
}

#[component]
fn LayerGrid(
    layer: LayerMaps,
    #[prop(default = "activation-grid")] testid: &'static str,
    #[prop(default = Palette::Viridis)] palette: Palette,
) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    let columns = MAPS_PER_ROW.min(layer.count).max(1);
    let rows = layer.count.div_ceil(columns);
    // One pixel of gap between maps.
    let width = columns * (layer.width + 1) - 1;
    let height = rows * (layer.height + 1) - 1;
    let scale = (2.0 * 28.0 / layer.width.max(1) as f64).clamp(2.0, 24.0);
    let title = format!("{} — {} ({} maps)", layer.name, layer.shape, layer.count);
    let name = layer.name.clone();
    let count = layer.count;
    let fingerprint = fingerprint(&layer.values).to_string();
    Effect::new(move |_| {
        if let Some(canvas) = canvas.get()
            && let Some(ctx) = context_2d(&canvas)
        {
            let size = layer.width * layer.height;
            for (i, map) in layer.values.chunks(size).enumerate() {
                let x = (i % columns) * (layer.width + 1);
                let y = (i / columns) * (layer.height + 1);
                paint(
                    &ctx,
                    map,
                    layer.width,
                    layer.height,
                    x as f64,
                    y as f64,
                    palette,
                );
            }
        }
    });
    view! {
        <figure class="layer" data-testid=testid data-layer=name data-maps=count
            data-fingerprint=fingerprint>
            <figcaption>{title}</figcaption>
            <canvas node_ref=canvas class="maps" width=width height=height
                style=format!("width:{}px", (width as f64 * scale).round())></canvas>
        </figure>
    }
}

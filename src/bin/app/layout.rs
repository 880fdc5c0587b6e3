//! The page frame: header (device, model), tabs, the error banner, and start-up (worker, device,
//! model).

use digit_lab::device::DeviceKind;
use digit_lab::protocol::{Command, DataRole, Failure, Problem};
use digit_lab::training::events::TrainFailure;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::activations_view::ActivationTarget;
use crate::data_panel::DataPanel;
use crate::draw_panel::DrawPanel;
use crate::insights_panel::InsightsPanel;
use crate::logic::run::RunStatus;
use crate::logic::shortcuts::{KeyPress, SHORTCUTS_HELP, Shortcut, is_field, shortcut};
use crate::model_panel::{ModelPanel, describe_source, load_startup_model};
use crate::predict_panel::PredictPanel;
use crate::runs_panel::RunsPanel;
use crate::state::AppState;
use crate::train_panel::{TrainPanel, TrainSettings};
use crate::widgets::{ChartRedraw, load_csv_file};
use crate::worker;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tab {
    Data,
    Train,
    Insights,
    Draw,
    Predict,
    Model,
    Runs,
}

impl Tab {
    const ALL: [Tab; 7] = [
        Tab::Data,
        Tab::Train,
        Tab::Insights,
        Tab::Draw,
        Tab::Predict,
        Tab::Model,
        Tab::Runs,
    ];

    fn id(self) -> &'static str {
        match self {
            Tab::Data => "data",
            Tab::Train => "train",
            Tab::Insights => "insights",
            Tab::Draw => "draw",
            Tab::Predict => "predict",
            Tab::Model => "model",
            Tab::Runs => "runs",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Tab::Data => "Data",
            Tab::Train => "Train",
            Tab::Insights => "Insights",
            Tab::Draw => "Draw",
            Tab::Predict => "Predict",
            Tab::Model => "Model",
            Tab::Runs => "Runs",
        }
    }
}

/// The WebGPU adapter's vendor and architecture as the browser reports them (wgpu's own adapter
/// info is empty on the web).
async fn webgpu_adapter() -> Option<String> {
    use js_sys::{Function, Promise, Reflect};
    use wasm_bindgen::JsCast;
    let gpu = Reflect::get(&web_sys::window()?.navigator(), &"gpu".into()).ok()?;
    let request: Function = Reflect::get(&gpu, &"requestAdapter".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let promise: Promise = request.call0(&gpu).ok()?.dyn_into().ok()?;
    let adapter = wasm_bindgen_futures::JsFuture::from(promise).await.ok()?;
    let info = Reflect::get(&adapter, &"info".into()).ok()?;
    let parts: Vec<String> = ["vendor", "architecture", "device", "description"]
        .into_iter()
        .filter_map(|key| Reflect::get(&info, &key.into()).ok()?.as_string())
        .filter(|part| !part.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" / "))
}

/// `?cpu` in the URL skips WebGPU (useful to compare, and for tests of the CPU path).
fn cpu_requested() -> bool {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .is_some_and(|s| s.split(['?', '&']).any(|p| p == "cpu"))
}

#[component]
pub fn App() -> impl IntoView {
    let state = AppState::new();
    provide_context(state);
    provide_context(TrainSettings::new());
    provide_context(ActivationTarget(RwSignal::new(None)));
    let tab = RwSignal::new(Tab::Data);
    let redraw = ChartRedraw::install();
    provide_context(redraw);
    Effect::new(move |_| {
        tab.track();
        redraw.bump();
    });
    let adapter = RwSignal::new(None::<String>);

    crate::effects::connect(state);
    // Memos: the connection also changes with each epoch's memory reading, which must not
    // re-run these effects.
    let ready = Memo::new(move |_| state.connection.with(|c| c.ready));
    Effect::new(move |_| {
        if ready.get() {
            let force_cpu = cpu_requested() || state.connection.with_untracked(|c| c.force_cpu);
            worker::send(Command::Init { force_cpu });
        }
    });
    // Once a worker's device is ready: the model from an earlier visit (or the last checkpoint),
    // else the bundled one; a replacement worker also gets the files loaded before.
    let served_generation = std::cell::Cell::new(None);
    let device_of_generation = Memo::new(move |_| {
        state
            .connection
            .with(|c| (c.generation, c.device.is_some()))
    });
    Effect::new(move |_| {
        let (generation, has_device) = device_of_generation.get();
        if has_device && served_generation.replace(Some(generation)) != Some(generation) {
            leptos::task::spawn_local(load_startup_model(state));
            if state.connection.with_untracked(|c| c.on_gpu()) {
                leptos::task::spawn_local(async move { adapter.set(webgpu_adapter().await) });
            }
            if generation > 0 {
                for role in [DataRole::Train, DataRole::Test] {
                    if let Some(file) = worker::remembered_file(role) {
                        load_csv_file(state, role, file);
                    }
                }
            }
        }
    });

    // Space pauses or resumes a run, digits switch tabs (not while typing in a field).
    let _keys = window_event_listener(leptos::ev::keydown, move |event| {
        let in_field = event
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .is_some_and(|element| is_field(&element.tag_name()));
        let press = KeyPress {
            key: &event.key(),
            modified: event.ctrl_key() || event.alt_key() || event.meta_key(),
            in_field,
        };
        match shortcut(&press, Tab::ALL.len()) {
            Some(Shortcut::Tab(index)) => tab.set(Tab::ALL[index]),
            Some(Shortcut::PauseOrResume) => match state.run.with_untracked(|r| r.status) {
                RunStatus::Running => {
                    event.prevent_default();
                    worker::send(Command::Pause);
                }
                RunStatus::Paused => {
                    event.prevent_default();
                    worker::send(Command::Resume);
                }
                _ => {}
            },
            None => {}
        }
    });

    let device_kind = move || {
        let kind = state.connection.with(|c| c.device.as_ref().map(|d| d.kind));
        match kind {
            Some(DeviceKind::Gpu) => "gpu",
            Some(DeviceKind::Cpu) => "cpu",
            None => "",
        }
    };

    view! {
        <header>
            <h1>"Digit Lab"</h1>
            <div class="device" data-testid="device-info"
                data-kind=device_kind>
                {move || match state.connection.with(|c| c.device.clone()) {
                    None => "starting the compute device…".to_string(),
                    Some(d) => match (d.kind, d.fallback_reason) {
                        (DeviceKind::Gpu, _) => format!(
                            "GPU (WebGPU) — {}",
                            adapter.get().unwrap_or(d.description)
                        ),
                        (DeviceKind::Cpu, Some(why)) => {
                            format!("CPU (WebAssembly) — WebGPU unavailable: {why}")
                        }
                        (DeviceKind::Cpu, None) => "CPU (WebAssembly)".to_string(),
                    },
                }}
            </div>
            <Show when=move || state.connection.with(|c| c.on_gpu())>
                <button class="use-cpu" data-testid="use-cpu"
                    title="Restart the worker on the CPU (WebAssembly); the loaded files and \
                        the current model come along"
                    disabled=move || state.run.with(|r| r.is_busy())
                    on:click=move |_| worker::switch_to_cpu(state)>
                    "Use the CPU"
                </button>
            </Show>
            <div class="model-source" data-testid="model-source"
                data-source=move || state.model.with(|m| {
                    m.current.as_ref().map(|m| format!("{:?}", m.source)).unwrap_or_default()
                })>
                {move || state.model.with(|m| m.current.as_ref().map_or_else(
                    || "no model yet".to_string(),
                    |m| format!("model: {} ({})",
                        m.meta.preset.map_or("custom".to_string(), |p| p.id().to_string()),
                        describe_source(&m.source)),
                ))}
            </div>
        </header>
        <nav class="tabs" role="tablist">
            {Tab::ALL.iter().map(|&t| view! {
                <button role="tab" class:active=move || tab.get() == t
                    data-testid=format!("tab-{}", t.id())
                    on:click=move |_| tab.set(t)>{t.title()}</button>
            }).collect_view()}
        </nav>
        <ErrorBanner />
        <main>
            <div class="tab" data-tab="data" class:hidden=move || tab.get() != Tab::Data>
                <DataPanel />
            </div>
            <div class="tab" data-tab="train" class:hidden=move || tab.get() != Tab::Train>
                <TrainPanel />
            </div>
            <div class="tab" data-tab="insights" class:hidden=move || tab.get() != Tab::Insights>
                <InsightsPanel />
            </div>
            <div class="tab" data-tab="draw" class:hidden=move || tab.get() != Tab::Draw>
                <DrawPanel />
            </div>
            <div class="tab" data-tab="predict" class:hidden=move || tab.get() != Tab::Predict>
                <PredictPanel />
            </div>
            <div class="tab" data-tab="model" class:hidden=move || tab.get() != Tab::Model>
                <ModelPanel />
            </div>
            <div class="tab" data-tab="runs" class:hidden=move || tab.get() != Tab::Runs>
                <RunsPanel />
            </div>
        </main>
        <footer class="shortcuts subtle" data-testid="shortcuts">{SHORTCUTS_HELP}</footer>
    }
}

#[component]
fn ErrorBanner() -> impl IntoView {
    let state = expect_context::<AppState>();
    // A failure of the GPU itself: offer the CPU at once, not only as `?cpu` in the URL.
    let offer_cpu = move || {
        let device_failed = state
            .notice
            .with(|n| n.latest.as_ref().is_some_and(is_device_failure));
        device_failed && state.connection.with(|c| c.on_gpu()) && !state.run.with(|r| r.is_busy())
    };
    view! {
        <Show when=move || state.notice.with(|n| n.latest.is_some())>
            <div class="banner error" role="alert" data-testid="app-error">
                {move || state.notice.with(|n| n.latest.as_ref().map(ToString::to_string))}
                <Show when=offer_cpu>
                    <button data-testid="banner-use-cpu" on:click=move |_| {
                        state.notice.update(|n| n.dismiss());
                        worker::switch_to_cpu(state);
                    }>"Train on the CPU instead"</button>
                </Show>
                <button on:click=move |_| state.notice.update(|n| n.dismiss()) aria-label="dismiss">
                    "×"
                </button>
            </div>
        </Show>
    }
}

fn is_device_failure(failure: &Failure) -> bool {
    matches!(
        failure.problem,
        Problem::Device(_) | Problem::Train(TrainFailure::Device(_)) | Problem::WorkerCrashed(_)
    )
}

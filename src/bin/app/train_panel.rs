//! Configure and run training: the recipe form, the controls, live progress, the loss and
//! accuracy charts and the per-epoch table.

use std::sync::Arc;

use digit_lab::augment::AugmentConfig;
use digit_lab::model::Preset;
use digit_lab::protocol::{Command, Failure, Operation, Prerequisite};
use digit_lab::training::config::TrainConfig;
use digit_lab::training::events::EpochSummary;
use leptos::prelude::*;

use crate::charts::{Series, draw_lines, theme};
use crate::logic::export::epochs_csv;
use crate::logic::history::PlannedRun;
use crate::logic::recipe::RecipeForm;
use crate::logic::run::{RunStatus, duration};
use crate::state::{AppState, now_ms};
use crate::widgets::{LiveCanvas, ProgressBar, offer_download, percent};
use crate::worker;
use plotters::prelude::SeriesLabelPosition;

/// The form's fields as text, so the user can type freely; parsed when Train is pressed.
#[derive(Clone, Copy)]
pub struct TrainSettings {
    pub preset: RwSignal<Preset>,
    pub epochs: RwSignal<String>,
    pub batch_size: RwSignal<String>,
    pub optimizer: RwSignal<String>,
    pub learning_rate: RwSignal<String>,
    pub lr_decay: RwSignal<String>,
    pub label_smoothing: RwSignal<String>,
    pub validation_fraction: RwSignal<String>,
    pub seed: RwSignal<String>,
    pub member: RwSignal<String>,
    pub rotation: RwSignal<String>,
    pub zoom: RwSignal<String>,
    pub width_shift: RwSignal<String>,
    pub height_shift: RwSignal<String>,
    pub shear: RwSignal<String>,
    pub augment_fade: RwSignal<String>,
    pub one_cycle: RwSignal<bool>,
    pub plateau: RwSignal<bool>,
    pub early_stopping: RwSignal<bool>,
    pub patience: RwSignal<String>,
}

impl TrainSettings {
    pub fn new() -> Self {
        let settings = Self {
            preset: RwSignal::new(Preset::DigitLab),
            epochs: RwSignal::new(String::new()),
            batch_size: RwSignal::new(String::new()),
            optimizer: RwSignal::new(String::new()),
            learning_rate: RwSignal::new(String::new()),
            lr_decay: RwSignal::new(String::new()),
            label_smoothing: RwSignal::new(String::new()),
            validation_fraction: RwSignal::new(String::new()),
            seed: RwSignal::new(String::new()),
            member: RwSignal::new(String::new()),
            rotation: RwSignal::new(String::new()),
            zoom: RwSignal::new(String::new()),
            width_shift: RwSignal::new(String::new()),
            height_shift: RwSignal::new(String::new()),
            shear: RwSignal::new(String::new()),
            augment_fade: RwSignal::new(String::new()),
            one_cycle: RwSignal::new(false),
            plateau: RwSignal::new(false),
            early_stopping: RwSignal::new(false),
            patience: RwSignal::new(String::new()),
        };
        settings.use_recipe(Preset::DigitLab);
        settings
    }

    /// Fill every field from a preset's notebook recipe.
    pub fn use_recipe(&self, preset: Preset) {
        self.use_form(RecipeForm::from_preset(preset));
    }

    /// Fill every field from a form (a preset's recipe, or one adapted from it).
    pub fn use_form(&self, form: RecipeForm) {
        self.preset.set(form.preset);
        for (field, value) in self.text_fields().into_iter().zip(form.text_values()) {
            field.set(value);
        }
        self.one_cycle.set(form.one_cycle);
        self.plateau.set(form.plateau);
        self.early_stopping.set(form.early_stopping);
    }

    /// The form as it stands (read without tracking: called from event handlers).
    pub fn form(&self) -> RecipeForm {
        let mut form = RecipeForm::from_preset(self.preset.get_untracked());
        for (value, field) in form.text_values_mut().into_iter().zip(self.text_fields()) {
            *value = field.get_untracked();
        }
        form.one_cycle = self.one_cycle.get_untracked();
        form.plateau = self.plateau.get_untracked();
        form.early_stopping = self.early_stopping.get_untracked();
        form
    }

    /// The text fields, in [`RecipeForm::text_values`]' order.
    fn text_fields(&self) -> [RwSignal<String>; 16] {
        [
            self.epochs,
            self.batch_size,
            self.optimizer,
            self.learning_rate,
            self.lr_decay,
            self.label_smoothing,
            self.validation_fraction,
            self.seed,
            self.member,
            self.rotation,
            self.zoom,
            self.width_shift,
            self.height_shift,
            self.shear,
            self.augment_fade,
            self.patience,
        ]
    }

    pub fn augmentation(&self) -> Result<AugmentConfig, Failure> {
        self.form().augmentation()
    }

    pub fn config(&self) -> Result<TrainConfig, Failure> {
        self.form().config()
    }
}

#[component]
fn Field(label: &'static str, value: RwSignal<String>, testid: &'static str) -> impl IntoView {
    view! {
        <label class="field">
            <span>{label}</span>
            <input type="text" inputmode="decimal" data-testid=testid
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev)) />
        </label>
    }
}

#[component]
fn Check(label: &'static str, value: RwSignal<bool>, testid: &'static str) -> impl IntoView {
    view! {
        <label class="check">
            <input type="checkbox" data-testid=testid
                prop:checked=move || value.get()
                on:change=move |ev| value.set(event_target_checked(&ev)) />
            {label}
        </label>
    }
}

#[component]
pub fn TrainPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let settings = expect_context::<TrainSettings>();
    let status = Memo::new(move |_| state.run.with(|t| t.status));
    let busy = Memo::new(move |_| state.run.with(|r| r.is_busy()));

    let start = move |_| {
        if state.data.with_untracked(|d| d.train.is_none()) {
            return state.report(Failure::needs(Operation::Train, Prerequisite::TrainData));
        }
        match settings.config() {
            Ok(config) => {
                let preset = settings.preset.get_untracked();
                let data = state.data.with_untracked(|d| {
                    d.train
                        .as_ref()
                        .map(|t| t.file_name.clone())
                        .unwrap_or_default()
                });
                state.history.update(|h| {
                    h.planned(PlannedRun {
                        preset,
                        config: config.clone(),
                        data,
                    })
                });
                state.run.update(|r| r.starting());
                worker::send(Command::Train { preset, config });
            }
            Err(failure) => state.report(failure),
        }
    };
    let pause = move |_| match status.get_untracked() {
        RunStatus::Paused => worker::send(Command::Resume),
        _ => worker::send(Command::Pause),
    };
    let adam_selected = move || settings.optimizer.get() == "adam";
    let rmsprop_selected = move || settings.optimizer.get() == "rmsprop";
    let cannot_pause = move || !matches!(status.get(), RunStatus::Running | RunStatus::Paused);
    let pause_label = move || {
        if status.get() == RunStatus::Paused {
            "Resume"
        } else {
            "Pause"
        }
    };

    view! {
        <section class="panel train-panel">
            <div class="columns">
                <div class="settings">
                    <h2>"Recipe"</h2>
                    <label class="field">
                        <span>"Model"</span>
                        <select data-testid="model-select"
                            on:change=move |ev| {
                                if let Some(p) = Preset::from_id(&event_target_value(&ev)) {
                                    settings.use_recipe(p);
                                }
                            }>
                            {Preset::ALL.iter().map(|p| {
                                let selected = move || settings.preset.get() == *p;
                                let params = p.architecture().param_count();
                                view! {
                                    <option value=p.id() selected=selected>
                                        {format!("{} — {} params", p.title(), params)}
                                    </option>
                                }
                            }).collect_view()}
                        </select>
                    </label>
                    <div class="field-row">
                        <Field label="Epochs" value=settings.epochs testid="epochs-input" />
                        <Field label="Batch size" value=settings.batch_size
                            testid="batch-size-input" />
                    </div>
                    <div class="field-row">
                        <label class="field">
                            <span>"Optimizer"</span>
                            <select data-testid="optimizer-select"
                                on:change=move |ev| settings.optimizer.set(event_target_value(&ev))>
                                <option value="adam" selected=adam_selected>"Adam"</option>
                                <option value="rmsprop" selected=rmsprop_selected>
                                    "RMSprop (Keras)"
                                </option>
                            </select>
                        </label>
                        <Field label="Learning rate" value=settings.learning_rate
                            testid="lr-input" />
                        <Field label="LR × per epoch" value=settings.lr_decay
                            testid="lr-decay-input" />
                    </div>
                    <div class="field-row">
                        <Check value=settings.one_cycle testid="one-cycle-toggle"
                            label="One-cycle schedule (warm up, then anneal over the epochs chosen)" />
                        <Field label="Label smoothing" value=settings.label_smoothing
                            testid="label-smoothing-input" />
                    </div>
                    <div class="field-row">
                        <Field label="Validation fraction" value=settings.validation_fraction
                            testid="validation-input" />
                        <Field label="Seed" value=settings.seed testid="seed-input" />
                        <Field label="Ensemble member" value=settings.member
                            testid="member-input" />
                    </div>
                    <h3>"Augmentation"</h3>
                    <div class="field-row">
                        <Field label="Rotation °" value=settings.rotation testid="aug-rotation" />
                        <Field label="Zoom" value=settings.zoom testid="aug-zoom" />
                        <Field label="Shear °" value=settings.shear testid="aug-shear" />
                    </div>
                    <div class="field-row">
                        <Field label="Width shift" value=settings.width_shift testid="aug-width" />
                        <Field label="Height shift" value=settings.height_shift
                            testid="aug-height" />
                        <Field label="Fade out over the last (of the run)"
                            value=settings.augment_fade testid="aug-fade" />
                    </div>
                    <h3>"Callbacks"</h3>
                    <Check value=settings.plateau testid="plateau-toggle"
                        label="ReduceLROnPlateau (halve the rate after 3 flat epochs)" />
                    <label class="check">
                        <input type="checkbox" data-testid="early-stop-toggle"
                            prop:checked=move || settings.early_stopping.get()
                            on:change=move |ev| {
                                settings.early_stopping.set(event_target_checked(&ev))
                            } />
                        "Early stopping, patience"
                        <input type="text" class="tiny" data-testid="patience-input"
                            prop:value=move || settings.patience.get()
                            on:input=move |ev| settings.patience.set(event_target_value(&ev)) />
                    </label>
                    <div class="buttons">
                        <button class="primary" data-testid="train-button" on:click=start
                            disabled=busy>"Train"</button>
                        <button data-testid="pause-button" on:click=pause
                            disabled=cannot_pause>
                            {pause_label}
                        </button>
                        <button data-testid="stop-button"
                            on:click=move |_| worker::send(Command::Stop)
                            disabled=move || !busy.get()>"Stop"</button>
                    </div>
                </div>
                <div class="live">
                    <Progress />
                    <div class="charts">
                        <Curves metric=Metric::Loss />
                        <Curves metric=Metric::Accuracy />
                    </div>
                    <EpochTable />
                </div>
            </div>
        </section>
    }
}

#[component]
fn Progress() -> impl IntoView {
    let state = expect_context::<AppState>();
    let fraction = Signal::derive(move || state.run.with(|run| run.fraction()));
    let label = Signal::derive(move || state.run.with(|run| run.progress_label(now_ms())));
    let worker_memory = move || state.connection.with(|c| c.worker_memory);
    let memory_bytes = move || worker_memory().map(|b| b.to_string()).unwrap_or_default();
    let memory_text =
        move || worker_memory().map(|b| format!("worker memory {:.1} MB", b as f64 / 1048576.0));
    view! {
        <div class="progress-block">
            <ProgressBar fraction=fraction label=label testid="progress" />
            <p class="subtle" data-testid="worker-memory"
                data-bytes=memory_bytes>
                {memory_text}
            </p>
            <p class="finish" data-testid="train-status">
                {move || state.run.with(|t| match t.status {
                    RunStatus::Finished => t.outcome().unwrap_or_default(),
                    RunStatus::Paused => "Paused between batches.".to_string(),
                    _ => String::new(),
                })}
            </p>
        </div>
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Metric {
    Loss,
    Accuracy,
}

impl Metric {
    fn pick(self, loss: f64, accuracy: f64) -> f64 {
        match self {
            Metric::Loss => loss,
            Metric::Accuracy => accuracy,
        }
    }
}

/// Most points drawn per curve: long runs are thinned so a redraw stays cheap.
const MAX_POINTS: usize = 1500;

#[component]
fn Curves(metric: Metric) -> impl IntoView {
    let state = expect_context::<AppState>();
    let track = Signal::derive(move || state.run.with(|t| t.batches.len() + t.epochs.len()));
    let draw = Arc::new(move |canvas: &web_sys::HtmlCanvasElement| {
        state.run.with_untracked(|t| {
            let step = t.batches.len().div_ceil(MAX_POINTS).max(1);
            let batches: Vec<(f64, f64)> = t
                .batches
                .iter()
                .step_by(step)
                .map(|b| (b.epoch, metric.pick(b.loss, b.accuracy)))
                .collect();
            let per_epoch = |value: fn(&EpochSummary) -> Option<f64>| -> Vec<(f64, f64)> {
                t.epochs
                    .iter()
                    .filter_map(|e| value(e).map(|v| ((e.epoch + 1) as f64, v)))
                    .collect()
            };
            let train = match metric {
                Metric::Loss => per_epoch(|e| Some(e.train_loss)),
                Metric::Accuracy => per_epoch(|e| Some(e.train_accuracy)),
            };
            let validation = match metric {
                Metric::Loss => per_epoch(|e| e.val_loss),
                Metric::Accuracy => per_epoch(|e| e.val_accuracy),
            };
            let x_max = t.start.as_ref().map_or(1.0, |s| s.epochs as f64);
            let theme = theme();
            // Legends go where the curves are not: losses fall, accuracies rise.
            let (label, range, legend) = match metric {
                Metric::Loss => ("loss", None, SeriesLabelPosition::UpperRight),
                Metric::Accuracy => {
                    let low = batches
                        .iter()
                        .chain(&validation)
                        .map(|p| p.1)
                        .fold(1.0, f64::min);
                    (
                        "accuracy",
                        Some(((low - 0.02).clamp(0.0, 0.9), 1.0)),
                        SeriesLabelPosition::LowerRight,
                    )
                }
            };
            let _ = draw_lines(
                canvas,
                label,
                x_max,
                range,
                legend,
                &[
                    Series {
                        name: "train (per batch, smoothed)",
                        color: theme.train,
                        points: &batches,
                        markers: false,
                    },
                    Series {
                        name: "train (epoch)",
                        color: theme.train_epoch,
                        points: &train,
                        markers: true,
                    },
                    Series {
                        name: "validation",
                        color: theme.validation,
                        points: &validation,
                        markers: true,
                    },
                ],
            );
        })
    });
    let testid = match metric {
        Metric::Loss => "loss-chart",
        Metric::Accuracy => "accuracy-chart",
    };
    view! { <LiveCanvas draw=draw track=track testid=testid /> }
}

#[component]
fn EpochTable() -> impl IntoView {
    let state = expect_context::<AppState>();
    let save_csv = move |_| {
        let csv = state.run.with_untracked(|r| epochs_csv(&r.epochs));
        offer_download(state, "epochs.csv", csv.as_bytes(), "text/csv");
    };
    view! {
        <button class="link" data-testid="epochs-csv" on:click=save_csv
            disabled=move || state.run.with(|r| r.epochs.is_empty())
            title="This run's per-epoch metrics as CSV">
            "Download epochs as CSV"
        </button>
        <table class="epochs" data-testid="epoch-table">
            <thead>
                <tr>
                    <th>"epoch"</th><th>"loss"</th><th>"accuracy"</th><th>"val loss"</th>
                    <th>"val accuracy"</th><th>"learning rate"</th><th>"time"</th><th>"img/s"</th>
                </tr>
            </thead>
            <tbody>
                {move || state.run.with(|t| {
                    t.epochs.iter().map(|e| {
                        let best = t.best_epoch == Some(e.epoch);
                        view! {
                            <tr class:best=best data-epoch=e.epoch>
                                <td>{e.epoch + 1}{if best { " ★" } else { "" }}</td>
                                <td>{format!("{:.4}", e.train_loss)}</td>
                                <td>{percent(e.train_accuracy)}</td>
                                <td>{e.val_loss.map_or("-".into(), |v| format!("{v:.4}"))}</td>
                                <td>{e.val_accuracy.map_or("-".into(), percent)}</td>
                                <td>{format!("{:.2e}", e.learning_rate)}</td>
                                <td>{duration(e.seconds)}</td>
                                <td>{format!("{:.0}", e.images_per_second)}</td>
                            </tr>
                        }
                    }).collect_view()
                })}
            </tbody>
        </table>
    }
}

//! What the model learned and where it fails, on the validation split: confusion matrix,
//! classification report, ranked error gallery and per-layer activation grids.

use digit_lab::protocol::{Command, GalleryItem, ImageRef};
use leptos::prelude::*;

use crate::activations_view::{ActivationTarget, ActivationsView, live_refresh};
use crate::images::Digit;
use crate::logic::export::confusion_csv;
use crate::state::AppState;
use crate::widgets::offer_download;
use crate::worker;

#[component]
pub fn InsightsPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let target = expect_context::<ActivationTarget>().0;
    let gallery_size = RwSignal::new(12usize);

    // A model and labelled data but no validation predictions yet (e.g. a model loaded from a
    // file or restored from storage): evaluate it so the views have something to show.
    // (Memos throughout: the replies these effects ask for change the same feature states.)
    let model_version = Memo::new(move |_| state.model.with(|m| m.version));
    let has_train = Memo::new(move |_| state.data.with(|d| d.train.is_some()));
    let training = Memo::new(move |_| state.run.with(|r| r.is_busy()));
    Effect::new(move |_| {
        let ready = model_version.get() > 0 && has_train.get();
        let no_insights = state.insights.with_untracked(|i| i.insights.is_none());
        if ready && !training.get() && no_insights {
            worker::send(Command::EvaluateValidation);
        }
    });
    live_refresh(state, target, model_version, training);

    let validation_summary = move || {
        state.insights.with(|s| {
            s.insights.as_ref().map(|i| {
                format!(
                    "{} validation digits{}, predicted by {}",
                    i.validation_rows,
                    i.epoch
                        .map_or(String::new(), |e| format!(", after epoch {}", e + 1)),
                    s.insights_model
                )
            })
        })
    };
    let errors = Signal::derive(move || {
        state.insights.with(|s| {
            s.insights
                .as_ref()
                .map(|i| i.errors.clone())
                .unwrap_or_default()
        })
    });
    let correct = Signal::derive(move || {
        state.insights.with(|s| {
            s.insights
                .as_ref()
                .map(|i| i.correct.clone())
                .unwrap_or_default()
        })
    });

    view! {
        <section class="panel insights-panel">
            <Show when=move || state.insights.with(|s| s.insights.is_some())
                fallback=|| view! {
                    <p class="hint">
                        "Train a model, or load train.csv with a model, to see how it does on the \
                         validation split."
                    </p>
                }>
                <p class="subtle">{validation_summary}</p>
                <div class="columns">
                    <ConfusionMatrixView />
                    <ReportView />
                </div>
                <CellView />
                <h3>
                    "Most confident mistakes (P(predicted) − P(true)) — show "
                    <input type="number" min="1" max="100" class="tiny" data-testid="errors-count"
                        prop:value=move || gallery_size.get().to_string()
                        on:change=move |ev| {
                            if let Ok(n) = event_target_value(&ev).parse::<usize>() {
                                gallery_size.set(n.clamp(1, 100));
                                worker::send(Command::Insights { errors: n.clamp(1, 100) });
                            }
                        } />
                </h3>
                <Gallery items=errors
                    testid="top-errors" />
                <h3>"Most confident correct predictions"</h3>
                <Gallery items=correct
                    testid="top-correct" />
            </Show>
            <ActivationsView />
        </section>
    }
}

#[component]
fn ConfusionMatrixView() -> impl IntoView {
    let state = expect_context::<AppState>();
    let normalized = RwSignal::new(false);
    let save_csv = move |_| {
        let csv = state
            .insights
            .with_untracked(|i| i.insights.as_ref().map(|i| confusion_csv(&i.confusion)));
        if let Some(csv) = csv {
            offer_download(state, "confusion-matrix.csv", csv.as_bytes(), "text/csv");
        }
    };
    view! {
        <div class="confusion">
            <h3>"Confusion matrix "
                <button class="link" data-testid="confusion-csv" on:click=save_csv
                    title="The counts as CSV: rows are the true digit, columns the predicted one">
                    "CSV"
                </button>
                <label class="check inline">
                    <input type="checkbox" data-testid="confusion-normalize"
                        on:change=move |ev| normalized.set(event_target_checked(&ev)) />
                    "normalise rows"
                </label>
            </h3>
            <table data-testid="confusion-matrix" class="heatmap">
                <thead>
                    <tr><th class="corner">"true ↓ / predicted →"</th>
                        {(0..10).map(|c| view! { <th>{c}</th> }).collect_view()}
                    </tr>
                </thead>
                <tbody>
                    {move || state.insights.with(|s| s.insights.as_ref().map(|i| {
                        let fractions = i.confusion.normalized_rows();
                        let counts = &i.confusion.counts;
                        let max = counts.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
                        i.confusion.counts.iter().enumerate().map(|(truth, row)| view! {
                            <tr>
                                <th>{truth}</th>
                                {row.iter().enumerate().map(|(predicted, &count)| {
                                    let fraction = fractions[truth][predicted];
                                    let intensity = if normalized.get() {
                                        fraction
                                    } else {
                                        (count as f64 / max).sqrt()
                                    };
                                    let text = if normalized.get() {
                                        format!("{:.2}", fraction)
                                    } else {
                                        count.to_string()
                                    };
                                    let style = format!("--heat:{intensity:.3}");
                                    let title =
                                        format!("true {truth}, predicted {predicted}: {count}");
                                    let open_cell = move |_| worker::send(Command::ConfusionCell {
                                        truth: truth as u8, predicted: predicted as u8, limit: 48,
                                    });
                                    view! {
                                        <td class="cell" class:diagonal=truth == predicted
                                            style=style data-truth=truth data-predicted=predicted
                                            data-count=count title=title
                                            on:click=open_cell>{text}</td>
                                    }
                                }).collect_view()}
                            </tr>
                        }).collect_view()
                    }))}
                </tbody>
            </table>
            <div class="scale"><span>"0"</span><div class="scale-bar"></div><span>"max"</span></div>
        </div>
    }
}

#[component]
fn ReportView() -> impl IntoView {
    let state = expect_context::<AppState>();
    let row = |name: String, s: digit_lab::evaluation::metrics::ClassScores| {
        view! {
            <tr>
                <th>{name}</th>
                <td>{format!("{:.4}", s.precision)}</td>
                <td>{format!("{:.4}", s.recall)}</td>
                <td>{format!("{:.4}", s.f1)}</td>
                <td>{s.support}</td>
            </tr>
        }
    };
    view! {
        <div class="report">
            <h3>"Classification report"</h3>
            <table data-testid="class-report">
                <thead>
                    <tr>
                        <th></th><th>"precision"</th><th>"recall"</th><th>"f1-score"</th>
                        <th>"support"</th>
                    </tr>
                </thead>
                <tbody>
                    {move || state.insights.with(|s| s.insights.as_ref().map(|i| {
                        let r = &i.report;
                        let mut rows: Vec<AnyView> = r.classes.iter().enumerate()
                            .map(|(c, s)| row(c.to_string(), *s).into_any()).collect();
                        rows.push(view! {
                            <tr class="accuracy" data-accuracy=r.accuracy>
                                <th>"accuracy"</th><td></td><td></td>
                                <td>{format!("{:.4}", r.accuracy)}</td>
                                <td>{r.macro_avg.support}</td>
                            </tr>
                        }.into_any());
                        rows.push(row("macro avg".into(), r.macro_avg).into_any());
                        rows.push(row("weighted avg".into(), r.weighted_avg).into_any());
                        rows.into_iter().collect_view()
                    }))}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn CellView() -> impl IntoView {
    let state = expect_context::<AppState>();
    let target = expect_context::<ActivationTarget>().0;
    view! {
        <Show when=move || state.insights.with(|s| s.cell.is_some())>
            <div class="cell-digits" data-testid="confusion-cell">
                {move || state.insights.with(|s| s.cell.clone()).map(|cell| view! {
                    <h4>{format!("True {}, predicted {}: {} digit{}", cell.truth, cell.predicted,
                        cell.total, if cell.total == 1 { "" } else { "s" })}
                        <button on:click=move |_| state.insights.update(|s| s.close_cell())>
                            "close"
                        </button>
                    </h4>
                    <div class="digit-grid">
                        {cell.images.into_iter().map(|d| {
                            let position = d.row;
                            let show = move |_| target.set(Some(ImageRef::Validation(position)));
                            view! {
                                <button class="digit-button" title="show activations"
                                    on:click=show>
                                    <Digit pixels=d.pixels size=42 />
                                </button>
                            }
                        }).collect_view()}
                    </div>
                })}
            </div>
        </Show>
    }
}

#[component]
fn Gallery(#[prop(into)] items: Signal<Vec<GalleryItem>>, testid: &'static str) -> impl IntoView {
    let target = expect_context::<ActivationTarget>().0;
    view! {
        <div class="gallery" data-testid=testid>
            {move || items.get().into_iter().map(|item| {
                let p = item.prediction;
                let probabilities = format!(
                    "P(pred) {:.3} · P(true) {:.3}",
                    p.predicted_probability, p.truth_probability
                );
                view! {
                    <figure class="gallery-item" data-truth=p.truth data-predicted=p.predicted
                        data-margin=format!("{:.6}", p.error_margin())
                        on:click=move |_| target.set(Some(ImageRef::Validation(p.position)))>
                        <Digit pixels=item.pixels size=64 />
                        <figcaption>
                            <div>{format!("true {} → predicted {}", p.truth, p.predicted)}</div>
                            <div class="subtle">{probabilities}</div>
                        </figcaption>
                    </figure>
                }
            }).collect_view()}
        </div>
    }
}

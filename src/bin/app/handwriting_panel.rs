//! Your handwriting, in the Draw tab: label what is drawn (`label-drawing`), keep the labelled
//! drawings in this browser, see the current model's answers and accuracy on them, fine-tune
//! the model on them mixed with train.csv, and export/import the set as a train.csv-format CSV.

use std::rc::Rc;

use digit_lab::protocol::{Command, Failure, Operation, Prerequisite, Problem};
use leptos::prelude::*;

use crate::images::Digit;
use crate::logic::handwriting::{Drawing, HandwritingState, MAX_DRAWINGS};
use crate::logic::history::PlannedRun;
use crate::state::AppState;
use crate::widgets::{FileDrop, offer_download, percent};
use crate::worker;

/// `localStorage` key of the set: one line per drawing, its label then its 784 pixels as hex.
const STORAGE_KEY: &str = "digit-lab-handwriting";
const FINE_TUNE_EPOCHS: usize = 2;

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn encode(drawings: &[Drawing]) -> String {
    let mut text = String::with_capacity(drawings.len() * 1572);
    for d in drawings {
        text.push_str(&format!("{}:", d.label));
        for p in &d.pixels {
            text.push_str(&format!("{p:02x}"));
        }
        text.push('\n');
    }
    text
}

fn decode(text: &str) -> Vec<Drawing> {
    text.lines()
        .filter_map(|line| {
            let (label, hex) = line.split_once(':')?;
            let label: u8 = label.parse().ok().filter(|l| *l <= 9)?;
            let pixels = (0..hex.len() / 2)
                .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
                .collect::<Option<Vec<u8>>>()?;
            (pixels.len() == 784).then_some(Drawing { label, pixels })
        })
        .collect()
}

/// The set as stored at start-up (an unreadable line is skipped).
pub fn read_handwriting() -> HandwritingState {
    let text = storage().and_then(|s| s.get_item(STORAGE_KEY).ok().flatten());
    HandwritingState::with_drawings(text.as_deref().map(decode).unwrap_or_default())
}

fn save(state: AppState) {
    let text = state.handwriting.with_untracked(|h| encode(&h.drawings));
    let saved = storage()
        .ok_or_else(|| "this browser keeps no local storage for the page".to_string())
        .and_then(|s| {
            s.set_item(STORAGE_KEY, &text)
                .map_err(|_| "the browser's storage for this page is full".to_string())
        });
    if let Err(e) = saved {
        let problem = Problem::Browser(format!(
            "could not keep your handwriting set: {e}; export it as CSV to keep a copy"
        ));
        state.report(Failure::new(Operation::Storage, problem));
    }
}

/// Ask the worker for the current model's answers on the whole set.
pub fn ask_answers(state: AppState) {
    if let Some((id, images)) = state.handwriting.try_update(|h| h.asking()).flatten() {
        worker::send(Command::ClassifyMany { id, images });
    }
}

/// The digit buttons that label what is drawn now.
#[component]
pub fn LabelDrawing(preview: RwSignal<Vec<u8>>) -> impl IntoView {
    let state = expect_context::<AppState>();
    let label = move |digit: u8| {
        let pixels = preview.get_untracked();
        match state.handwriting.try_update(|h| h.add(digit, pixels)) {
            Some(Ok(())) => {
                save(state);
                ask_answers(state);
            }
            Some(Err(why)) => state.report(Failure::new(
                Operation::Classify,
                Problem::Input(format!("could not keep the drawing: {why}")),
            )),
            None => {}
        }
    };
    view! {
        <div class="label-drawing" data-testid="label-drawing">
            <span class="subtle">"This is a… (keep it in your set)"</span>
            <div class="digit-keys">
                {(0..10u8).map(|digit| view! {
                    <button data-testid=format!("label-{digit}") data-label=digit
                        disabled=move || preview.with(Vec::is_empty)
                        on:click=move |_| label(digit)>{digit}</button>
                }).collect_view()}
            </div>
        </div>
    }
}

#[component]
pub fn HandwritingSet() -> impl IntoView {
    let state = expect_context::<AppState>();
    // Answers follow the model: ask again whenever another model became current.
    let model_version = Memo::new(move |_| state.model.with(|m| m.version));
    Effect::new(move |_| {
        if model_version.get() > 0 {
            ask_answers(state);
        }
    });
    let count = Memo::new(move |_| state.handwriting.with(|h| h.drawings.len()));
    let accuracy = move || {
        state.handwriting.with(|h| match h.accuracy() {
            Some((right, total)) if total > 0 => format!(
                "The current model reads {right} of your {total} digits right ({}).",
                percent(right as f64 / total as f64)
            ),
            _ if h.drawings.is_empty() => {
                "Draw a digit above and press its number to start your set.".into()
            }
            _ => "Asking the current model…".into(),
        })
    };
    let fine_tune = move |_| {
        if state.data.with_untracked(|d| d.train.is_none()) {
            return state.report(Failure::needs(Operation::Train, Prerequisite::TrainData));
        }
        let drawings = state.handwriting.with_untracked(|h| {
            h.drawings
                .iter()
                .map(|d| (d.label, d.pixels.clone()))
                .collect::<Vec<_>>()
        });
        // The run's record in the history: the recipe the worker derives the same way.
        let recipe = state.model.with_untracked(|m| {
            m.current
                .as_ref()
                .and_then(|m| m.meta.fine_tune_recipe(FINE_TUNE_EPOCHS))
        });
        if let Some((preset, config)) = recipe {
            let data = state.data.with_untracked(|d| {
                let file = d
                    .train
                    .as_ref()
                    .map_or("train.csv", |t| t.file_name.as_str());
                format!("{file} + {} of your digits", drawings.len())
            });
            state.history.update(|h| {
                h.planned(PlannedRun {
                    preset,
                    config,
                    data,
                })
            });
        }
        state.run.update(|r| r.starting());
        worker::send(Command::FineTune {
            epochs: FINE_TUNE_EPOCHS,
            drawings,
        });
    };
    let export = move |_| {
        let csv = state.handwriting.with_untracked(|h| h.to_csv());
        offer_download(state, "my-digits.csv", csv.as_bytes(), "text/csv");
    };
    let import = Rc::new(move |file: web_sys::File| {
        let name = file.name();
        leptos::task::spawn_local(async move {
            let file = gloo::file::File::from(file);
            let read = gloo::file::futures::read_as_bytes(&file).await;
            let added = match read {
                Ok(bytes) => state
                    .handwriting
                    .try_update(|h| h.import_csv(&name, &bytes))
                    .unwrap_or(Ok(0)),
                Err(e) => Err(format!("the browser could not read {name}: {e}")),
            };
            match added {
                Ok(_) => {
                    save(state);
                    ask_answers(state);
                }
                Err(why) => state.report(Failure::new(
                    Operation::LoadData(digit_lab::protocol::DataRole::Train),
                    Problem::Input(format!("{why} (your set is unchanged)")),
                )),
            }
        });
    });
    let cannot_fine_tune = move || {
        count.get() == 0
            || state.run.with(|r| r.is_busy())
            || state.data.with(|d| d.train.is_none())
    };
    view! {
        <div class="handwriting" data-testid="handwriting">
            <h3>"Your handwriting"</h3>
            <p data-testid="handwriting-accuracy"
                data-right=move || state.handwriting.with(|h| {
                    h.accuracy().map(|a| a.0.to_string()).unwrap_or_default()
                })
                data-count=move || count.get()>{accuracy}</p>
            <div class="gallery" data-testid="handwriting-gallery">
                {move || state.handwriting.with(|h| {
                    h.drawings.iter().enumerate().map(|(i, d)| {
                        let answer = h.answers.as_ref().and_then(|a| a.get(i).copied());
                        let right = answer.map_or(String::new(), |a| {
                            (a.predicted == d.label).to_string()
                        });
                        let caption = match answer {
                            Some(a) => format!(
                                "{} → read {} ({:.0}%)",
                                d.label, a.predicted, a.confidence * 100.0
                            ),
                            None => d.label.to_string(),
                        };
                        view! {
                            <figure class="gallery-item" data-testid="handwriting-item"
                                data-label=d.label data-right=right>
                                <Digit pixels=d.pixels.clone() size=48 />
                                <figcaption>
                                    {caption}
                                    <button class="link" data-testid="handwriting-delete"
                                        title="remove from your set"
                                        on:click=move |_| {
                                            state.handwriting.update(|h| h.remove(i));
                                            save(state);
                                            ask_answers(state);
                                        }>"×"</button>
                                </figcaption>
                            </figure>
                        }
                    }).collect_view()
                })}
            </div>
            <div class="buttons">
                <button class="primary" data-testid="fine-tune" on:click=fine_tune
                    disabled=cannot_fine_tune
                    title="train the current model further on train.csv with your digits mixed in">
                    {format!("Fine-tune on my digits ({FINE_TUNE_EPOCHS} epochs)")}
                </button>
                <button data-testid="handwriting-export" on:click=export
                    disabled=move || count.get() == 0>"Export as CSV"</button>
            </div>
            <FileDrop label="Import a set (train.csv format)" accept=".csv,.gz,text/csv"
                testid="handwriting-import" on_file=import />
            <p class="subtle">
                {format!(
                    "Kept in this browser (up to {MAX_DRAWINGS} digits). Fine-tuning trains the \
                     current model on train.csv with your digits mixed in (about a tenth of \
                     each epoch), judged on its own validation split; the Train tab shows the \
                     run and the result becomes the current model."
                )}
            </p>
        </div>
    }
}

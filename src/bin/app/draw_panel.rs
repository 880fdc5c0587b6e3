//! Draw a digit and watch the model classify it live. The ink is preprocessed like MNIST (crop,
//! fit 20x20, centre by mass in 28x28) by the library's `draw` module before it is classified.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use digit_lab::draw::preprocess_drawing;
use digit_lab::protocol::{Command, ImageRef};
use leptos::html::Canvas;
use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use web_sys::{HtmlCanvasElement, PointerEvent};

use crate::activations_view::ActivationTarget;
use crate::charts::draw_bars;
use crate::handwriting_panel::{HandwritingSet, LabelDrawing};
use crate::images::Digit;
use crate::state::{AppState, now_ms};
use crate::widgets::LiveCanvas;
use crate::worker;

/// CSS size of the drawing area; the brush is sized so a digit drawn across most of it has
/// strokes about as thick (relative to its height) as MNIST's.
const CANVAS_CSS: f64 = 280.0;
const BRUSH_CSS: f64 = 22.0;

type Stroke = Vec<(f64, f64)>;

#[component]
pub fn DrawPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let target = expect_context::<ActivationTarget>().0;
    let canvas = NodeRef::<Canvas>::new();
    let strokes: Rc<RefCell<Vec<Stroke>>> = Rc::default();
    let drawing = Rc::new(RefCell::new(false));
    let preview = RwSignal::new(Vec::<u8>::new());
    let stroke_count = RwSignal::new(0usize);

    // Classify what is on the canvas now (called at most once per animation frame).
    let classify = Rc::new(move || {
        let Some(canvas) = canvas.get_untracked() else {
            return;
        };
        match ink_coverage(&canvas).and_then(|(ink, w, h)| preprocess_drawing(&ink, w, h)) {
            Some(image) => {
                preview.set(image.to_vec());
                state.predict.update(|p| p.classify_sent(now_ms()));
                worker::send(Command::Classify {
                    pixels: image.to_vec(),
                });
            }
            None => {
                preview.set(Vec::new());
                state.predict.update(|p| p.clear_classification());
            }
        }
    });
    // Another model became current (a run finished, a fine-tune, a file): read what is drawn
    // again, so the answer shown is the current model's.
    let model_version = Memo::new(move |_| state.model.with(|m| m.version));
    Effect::new({
        let classify = classify.clone();
        move |_| {
            if model_version.get() > 0 && !preview.with_untracked(Vec::is_empty) {
                classify();
            }
        }
    });
    let frame_pending = Rc::new(RefCell::new(false));
    let schedule_classify = {
        let classify = classify.clone();
        Rc::new(move || {
            if frame_pending.replace(true) {
                return;
            }
            let classify = classify.clone();
            let pending = frame_pending.clone();
            let callback = Closure::once_into_js(move || {
                *pending.borrow_mut() = false;
                classify();
            });
            if let Some(w) = web_sys::window() {
                let _ = w.request_animation_frame(callback.unchecked_ref());
            }
        })
    };

    let redraw = {
        let strokes = strokes.clone();
        move || {
            if let Some(canvas) = canvas.get_untracked() {
                paint_strokes(&canvas, &strokes.borrow());
            }
        }
    };

    let on_down = {
        let (strokes, drawing, schedule) =
            (strokes.clone(), drawing.clone(), schedule_classify.clone());
        move |ev: PointerEvent| {
            let Some(canvas) = canvas.get_untracked() else {
                return;
            };
            ev.prevent_default();
            let _ = canvas.set_pointer_capture(ev.pointer_id());
            *drawing.borrow_mut() = true;
            strokes.borrow_mut().push(vec![position(&canvas, &ev)]);
            stroke_count.set(strokes.borrow().len());
            paint_strokes(&canvas, &strokes.borrow());
            schedule();
        }
    };
    let on_move = {
        let (strokes, drawing, schedule) =
            (strokes.clone(), drawing.clone(), schedule_classify.clone());
        move |ev: PointerEvent| {
            if !*drawing.borrow() {
                return;
            }
            let Some(canvas) = canvas.get_untracked() else {
                return;
            };
            ev.prevent_default();
            let points: Vec<(f64, f64)> = {
                let coalesced = ev.get_coalesced_events();
                if coalesced.length() > 0 {
                    coalesced
                        .iter()
                        .filter_map(|e| e.dyn_into::<PointerEvent>().ok())
                        .map(|e| position(&canvas, &e))
                        .collect()
                } else {
                    vec![position(&canvas, &ev)]
                }
            };
            if let Some(stroke) = strokes.borrow_mut().last_mut() {
                stroke.extend(points);
            }
            paint_strokes(&canvas, &strokes.borrow());
            schedule();
        }
    };
    let on_up = {
        let drawing = drawing.clone();
        move |_: PointerEvent| *drawing.borrow_mut() = false
    };
    let clear = {
        let (strokes, redraw, schedule) =
            (strokes.clone(), redraw.clone(), schedule_classify.clone());
        move |_| {
            strokes.borrow_mut().clear();
            stroke_count.set(0);
            redraw();
            schedule();
        }
    };
    let undo = {
        let (strokes, schedule) = (strokes.clone(), schedule_classify.clone());
        move |_| {
            strokes.borrow_mut().pop();
            stroke_count.set(strokes.borrow().len());
            redraw();
            schedule();
        }
    };

    let classification = Memo::new(move |_| state.predict.with(|p| p.classification.clone()));
    let probabilities_track = Signal::derive(move || {
        classification.with(|c| {
            c.as_ref()
                .map_or(0, |c| (c.latency_ms * 1000.0) as usize + 1)
        })
    });
    let draw_probabilities = Arc::new(move |canvas: &HtmlCanvasElement| {
        if let Some(c) = classification.get_untracked() {
            let values: Vec<f64> = c.probabilities.iter().map(|&p| p as f64).collect();
            let _ = draw_bars(canvas, &values, c.top_class(), |v| {
                format!("{:.0}%", v * 100.0)
            });
        }
    });

    // Keep the canvas' pixel size in step with its CSS size (HiDPI).
    Effect::new(move |_| {
        if let Some(canvas) = canvas.get() {
            let ratio = web_sys::window()
                .map_or(1.0, |w| w.device_pixel_ratio())
                .max(1.0);
            let side = (CANVAS_CSS * ratio).round() as u32;
            canvas.set_width(side);
            canvas.set_height(side);
        }
    });

    let show_activations = move |_| target.set(Some(ImageRef::Pixels(preview.get_untracked())));
    let top_class = move || {
        classification.with(|c| {
            c.as_ref()
                .and_then(|c| c.top_class())
                .map(|c| c.to_string())
                .unwrap_or_default()
        })
    };
    let prediction = move || {
        classification.with(|c| {
            let top = c.as_ref().and_then(|c| c.top_class().map(|k| (k, c)));
            match top {
                Some((class, c)) => {
                    let detail = format!(
                        "{:.1}% · {:.1} ms",
                        c.probabilities[class] * 100.0,
                        c.latency_ms
                    );
                    view! {
                        <span class="big">{class}</span>
                        <span class="subtle">{detail}</span>
                    }
                    .into_any()
                }
                None => view! { <span class="big muted">"?"</span> }.into_any(),
            }
        })
    };

    view! {
        <section class="panel draw-panel">
            <div class="columns">
                <div>
                    <canvas node_ref=canvas class="draw-canvas" data-testid="draw-canvas"
                        data-strokes=move || stroke_count.get()
                        style=format!("width:{CANVAS_CSS}px;height:{CANVAS_CSS}px")
                        on:pointerdown=on_down on:pointermove=on_move on:pointerup=on_up.clone()
                        on:pointercancel=on_up></canvas>
                    <div class="buttons">
                        <button data-testid="draw-clear" on:click=clear>"Clear"</button>
                        <button data-testid="draw-undo" on:click=undo
                            disabled=move || stroke_count.get() == 0>
                            "Undo"
                        </button>
                        <button data-testid="draw-activations"
                            disabled=move || preview.with(Vec::is_empty)
                            on:click=show_activations>
                            "Show activations (Insights tab)"
                        </button>
                    </div>
                    <p class="hint">"Draw one digit with the mouse, a finger or a pen."</p>
                </div>
                <div class="draw-result">
                    <div class="draw-preview-box">
                        <span class="subtle">"What the model sees (28×28)"</span>
                        <div data-testid="draw-preview"
                            data-empty=move || preview.with(Vec::is_empty).to_string()>
                            <Digit pixels=Signal::derive(move || {
                                let p = preview.get();
                                if p.is_empty() { vec![0; 784] } else { p }
                            }) size=112 />
                        </div>
                    </div>
                    <div class="prediction" data-testid="draw-prediction"
                        data-class=top_class
                        data-latency-ms=move || classification.with(|c| {
                            c.as_ref().map(|c| format!("{:.1}", c.latency_ms)).unwrap_or_default()
                        })
                        // Whether the answer is for what is drawn now (answers to earlier,
                        // partial strokes can still be arriving).
                        data-fresh=move || classification.with(|c| {
                            let fresh = c.as_ref().is_some_and(|c| preview.with(|p| *p == c.pixels));
                            if fresh { "true" } else { "false" }
                        })
                        data-probabilities=move || classification.with(|c| {
                            c.as_ref().map_or(String::new(), |c| {
                                let shown: Vec<String> =
                                    c.probabilities.iter().map(|p| format!("{p:.5}")).collect();
                                shown.join(" ")
                            })
                        })>
                        {prediction}
                    </div>
                    <div data-testid="draw-probabilities">
                        <LiveCanvas draw=draw_probabilities track=probabilities_track
                            testid="draw-probabilities-chart" class="chart small" />
                    </div>
                    <LabelDrawing preview=preview />
                </div>
            </div>
            <HandwritingSet />
        </section>
    }
}

/// The drawing canvas' context, created for frequent `getImageData` (the ink is read back on
/// every stroke update).
fn readback_context(canvas: &HtmlCanvasElement) -> Option<web_sys::CanvasRenderingContext2d> {
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"willReadFrequently".into(), &true.into()).ok()?;
    canvas
        .get_context_with_context_options("2d", &options)
        .ok()??
        .dyn_into()
        .ok()
}

/// Pointer position in canvas pixels.
fn position(canvas: &HtmlCanvasElement, ev: &PointerEvent) -> (f64, f64) {
    let rect = canvas.get_bounding_client_rect();
    let sx = canvas.width() as f64 / rect.width().max(1.0);
    let sy = canvas.height() as f64 / rect.height().max(1.0);
    (
        (ev.client_x() as f64 - rect.left()) * sx,
        (ev.client_y() as f64 - rect.top()) * sy,
    )
}

/// Strokes are drawn with an opaque ink on a transparent canvas; the alpha channel is the ink.
fn paint_strokes(canvas: &HtmlCanvasElement, strokes: &[Stroke]) {
    let Some(ctx) = readback_context(canvas) else {
        return;
    };
    let (w, h) = (canvas.width() as f64, canvas.height() as f64);
    ctx.clear_rect(0.0, 0.0, w, h);
    let brush = BRUSH_CSS * w / CANVAS_CSS;
    ctx.set_line_width(brush);
    ctx.set_line_cap("round");
    ctx.set_line_join("round");
    ctx.set_stroke_style_str("#111");
    ctx.set_fill_style_str("#111");
    for stroke in strokes {
        if let [(x, y)] = stroke.as_slice() {
            ctx.begin_path();
            let _ = ctx.arc(*x, *y, brush / 2.0, 0.0, std::f64::consts::TAU);
            ctx.fill();
            continue;
        }
        ctx.begin_path();
        for (i, &(x, y)) in stroke.iter().enumerate() {
            if i == 0 {
                ctx.move_to(x, y);
            } else {
                ctx.line_to(x, y);
            }
        }
        ctx.stroke();
    }
}

/// The canvas' alpha channel as ink coverage (0..255).
fn ink_coverage(canvas: &HtmlCanvasElement) -> Option<(Vec<u8>, usize, usize)> {
    let ctx = readback_context(canvas)?;
    let (w, h) = (canvas.width() as usize, canvas.height() as usize);
    let data = ctx
        .get_image_data(0.0, 0.0, w as f64, h as f64)
        .ok()?
        .data();
    Some((data.iter().skip(3).step_by(4).copied().collect(), w, h))
}

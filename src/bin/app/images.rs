//! Drawing 28x28 digits and feature maps onto canvases (one canvas pixel per image pixel, scaled
//! up by CSS with crisp edges).

use digit_lab::colormap::viridis;
use leptos::html::Canvas;
use leptos::prelude::*;
use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Palette {
    /// White ink on black, as MNIST stores it.
    Gray,
    Viridis,
}

pub fn context_2d(canvas: &HtmlCanvasElement) -> Option<CanvasRenderingContext2d> {
    canvas.get_context("2d").ok()??.dyn_into().ok()
}

/// Paint `values` (row-major, `width * height`) at (`x`, `y`) of the canvas.
pub fn paint(
    ctx: &CanvasRenderingContext2d,
    values: &[u8],
    width: usize,
    height: usize,
    x: f64,
    y: f64,
    palette: Palette,
) {
    let mut rgba = Vec::with_capacity(width * height * 4);
    for &v in values.iter().take(width * height) {
        let [r, g, b] = match palette {
            Palette::Gray => [v, v, v],
            Palette::Viridis => viridis(v),
        };
        rgba.extend_from_slice(&[r, g, b, 255]);
    }
    if let Ok(image) =
        ImageData::new_with_u8_clamped_array_and_sh(Clamped(&rgba), width as u32, height as u32)
    {
        let _ = ctx.put_image_data(&image, x, y);
    }
}

/// A digit as a small canvas.
#[component]
pub fn Digit(
    #[prop(into)] pixels: Signal<Vec<u8>>,
    #[prop(default = 56)] size: u32,
    #[prop(default = Palette::Gray)] palette: Palette,
) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    Effect::new(move |_| {
        let pixels = pixels.get();
        if let Some(canvas) = canvas.get()
            && let Some(ctx) = context_2d(&canvas)
        {
            paint(&ctx, &pixels, 28, 28, 0.0, 0.0, palette);
        }
    });
    view! {
        <canvas
            node_ref=canvas
            class="digit"
            width="28"
            height="28"
            style=format!("width:{size}px;height:{size}px")
        ></canvas>
    }
}

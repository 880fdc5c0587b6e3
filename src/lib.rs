//! Digit Lab's library: Kaggle Digit Recognizer data, augmentation, CNN presets, training as a
//! stream of events, evaluation and model files. Plain Rust over Burn that compiles natively and
//! to wasm32; no UI types here (the CLI and the browser app are thin front ends).
//!
//! Burn and everything that computes are behind the default `engine` feature. Without it the
//! library is the plain data the page shares with the worker (messages, configurations,
//! presets, CSV errors, drawing preprocessing): the page is built that way, so its wasm holds
//! none of Burn, CubeCL or wgpu.

pub mod augment;
pub mod colormap;
pub mod data;
pub mod device;
pub mod draw;
pub mod evaluation;
#[cfg(not(target_arch = "wasm32"))]
pub mod kernel_profile;
pub mod model;
pub mod model_file;
pub mod protocol;
pub mod rng;
#[cfg(feature = "engine")]
pub mod session;
pub mod submission;
pub mod training;
pub mod wasm_ctors;

#[cfg(feature = "engine")]
pub use burn;

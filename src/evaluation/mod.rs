//! Predictions and what is learned from them.

#[cfg(feature = "engine")]
pub mod activations;
pub mod metrics;
#[cfg(feature = "engine")]
pub mod predict;
pub mod tta;

//! Predictions and what is learned from them.

pub mod activations;
pub mod metrics;
pub mod predict;

//! The training loop as an async stream of [`TrainEvent`]s, driven the same way by the CLI
//! (`pollster`) and by the browser's worker (between `setTimeout(0)` yields). Pausing is simply
//! not polling; cancelling is a flag checked between batches. One async read per batch, started
//! when the batch is queued and awaited after the next one is (the device never waits for it).
//!
//! The configuration and the events are plain data (the page reads them too); the loop needs
//! Burn and exists with the `engine` feature.

pub mod config;
pub mod events;
#[cfg(feature = "engine")]
pub mod optim;
mod recipes;
pub mod schedule;
#[cfg(feature = "engine")]
mod trainer;

#[cfg(feature = "engine")]
pub use trainer::{CancelHandle, EVAL_BATCH_SIZE, Trainer, ValidationSnapshot};

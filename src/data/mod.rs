//! Kaggle's CSVs in, labelled digits out.

pub mod csv;
#[cfg(feature = "engine")]
pub mod dataset;

//! Kaggle's CSVs in, labelled digits out.

pub mod csv;
pub mod dataset;

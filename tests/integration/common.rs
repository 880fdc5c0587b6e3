//! Shared by the integration tests: slices of the real Kaggle files in ../shared/data.

use std::io::Read;
use std::path::PathBuf;

use digit_lab::data::csv::{CsvKind, parse_csv};
use digit_lab::data::dataset::Digits;

pub fn data_dir() -> PathBuf {
    let beside = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if beside.exists() {
        beside
    } else {
        PathBuf::from("/work/shared/data")
    }
}

/// The decompressed text of a shared CSV, cut after the header and `rows` data lines.
pub fn csv_head(file: &str, rows: usize) -> Vec<u8> {
    let compressed = std::fs::read(data_dir().join(file)).expect("shared data is present");
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut text)
        .expect("valid gzip");
    let mut lines = 0;
    let end = text
        .iter()
        .position(|&b| {
            lines += usize::from(b == b'\n');
            lines == rows + 1
        })
        .map_or(text.len(), |i| i + 1);
    text.truncate(end);
    text
}

pub fn train_digits(rows: usize) -> Digits {
    let bytes = csv_head("train.csv.gz", rows);
    Digits::from_csv(parse_csv("train.csv", &bytes, Some(CsvKind::Train), &mut |_| {}).unwrap())
}

pub fn test_digits(rows: usize) -> Digits {
    let bytes = csv_head("test.csv.gz", rows);
    Digits::from_csv(parse_csv("test.csv", &bytes, Some(CsvKind::Test), &mut |_| {}).unwrap())
}

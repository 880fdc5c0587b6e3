//! Kaggle Digit Recognizer CSVs (train.csv, test.csv; plain or gzip) parsed from bytes, since the
//! browser hands over bytes, not paths. One pass, pixels stay `u8`, no allocation per row, no
//! panic whatever the input, and every rejection says where (file, line, column), what was found
//! and how to go on.
#![allow(
    clippy::result_large_err,
    reason = "CsvError's shape is the public API; it is built at most once per file"
)]

mod compression;
mod error;
mod fast;
mod general;
mod header;
mod sniff;
#[cfg(test)]
mod test_support;
mod text;

use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};

pub use error::CsvError;
use error::{size_text, too_large};

pub const IMAGE_SIDE: usize = 28;
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Largest file accepted, compressed or decompressed (Kaggle's train.csv is 76 MB of text).
pub const MAX_INPUT_BYTES: usize = 1 << 30;

/// Bytes between progress reports: about one per MiB, never one per row.
const PROGRESS_STEP: usize = 1 << 20;

/// Train = labelled (`label,pixel0..pixel783`), Test = unlabelled (`pixel0..pixel783`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CsvKind {
    Train,
    Test,
}

impl CsvKind {
    /// Values per row: the label (Train only) and 784 pixels.
    pub fn columns(self) -> usize {
        self.label_columns() + IMAGE_PIXELS
    }

    /// Kaggle's header name of a 0-based column; `None` past the last column.
    pub fn column_name(self, column: usize) -> Option<String> {
        match column.checked_sub(self.label_columns()) {
            None => Some("label".to_owned()),
            Some(pixel) if pixel < IMAGE_PIXELS => Some(format!("pixel{pixel}")),
            Some(_) => None,
        }
    }

    fn label_columns(self) -> usize {
        match self {
            CsvKind::Train => 1,
            CsvKind::Test => 0,
        }
    }

    fn header_text(self) -> &'static str {
        match self {
            CsvKind::Train => "label,pixel0,pixel1,...,pixel783",
            CsvKind::Test => "pixel0,pixel1,...,pixel783",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    Decompressing,
    Parsing,
}

/// Bytes done of `total`: compressed bytes while decompressing, text bytes while parsing.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub phase: Phase,
    pub done: usize,
    pub total: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedCsv {
    pub kind: CsvKind,
    pub rows: usize,
    /// `rows * 784` grey levels, row-major, in file order.
    pub pixels: Vec<u8>,
    /// One label (0..=9) per row for Train; empty for Test.
    pub labels: Vec<u8>,
}

/// Parses a Kaggle Digit Recognizer CSV, plain or gzip (detected by its magic bytes, not by the
/// name). `expected = None` detects train/test from the header. `progress` is called about once
/// per MiB of input, plus once at the start and end of each phase.
pub fn parse_csv(
    file_name: &str,
    bytes: &[u8],
    expected: Option<CsvKind>,
    progress: &mut dyn FnMut(Progress),
) -> Result<ParsedCsv, CsvError> {
    parse_csv_cancellable(file_name, bytes, expected, &mut |report| {
        progress(report);
        ControlFlow::Continue(())
    })
}

/// `parse_csv` that the caller can stop: when `progress` (called as often) returns `Break`,
/// parsing stops within about a MiB of input, with an error whose `cancelled` is set.
pub fn parse_csv_cancellable(
    file_name: &str,
    bytes: &[u8],
    expected: Option<CsvKind>,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> Result<ParsedCsv, CsvError> {
    parse_with_limit(file_name, bytes, expected, progress, MAX_INPUT_BYTES)
}

/// `parse_csv_cancellable` with the size limit as a parameter, so tests can check it without
/// 1 GiB inputs.
fn parse_with_limit(
    file: &str,
    bytes: &[u8],
    expected: Option<CsvKind>,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    limit: usize,
) -> Result<ParsedCsv, CsvError> {
    if bytes.len() > limit {
        let sizes = (size_text(bytes.len()), size_text(limit));
        return Err(too_large(
            file,
            format!("the file is {}, over the {} limit", sizes.0, sizes.1),
        ));
    }
    if bytes.starts_with(compression::GZIP_MAGIC) {
        let text = compression::gunzip(file, bytes, limit, progress)?;
        text::parse_text(file, &text, expected, progress)
    } else {
        text::parse_text(file, bytes, expected, progress)
    }
}

/// Passes a report on to the caller, whose `Break` becomes the cancelled error.
fn report(
    file: &str,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    report: Progress,
) -> Result<(), CsvError> {
    match progress(report) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(CsvError::cancelled(file)),
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{Rng, assert_at, go_on, gzip, train_csv};
    use super::{CsvKind, IMAGE_PIXELS, MAX_INPUT_BYTES, parse_with_limit};

    #[test]
    fn refuses_inputs_over_the_size_limit() {
        assert_eq!(MAX_INPUT_BYTES, 1 << 30);
        let text = train_csv(3);
        let limit = text.len() - 1;
        let refuse =
            |bytes: &[u8]| parse_with_limit("train.csv", bytes, None, &mut |_| go_on(), limit);
        let error = refuse(text.as_bytes()).unwrap_err();
        assert_at(
            &error,
            None,
            None,
            &format!(
                "the file is {} bytes, over the {limit} bytes limit",
                text.len()
            ),
        );
        let error = refuse(&gzip(text.as_bytes())).unwrap_err();
        assert_at(&error, None, None, "the file decompresses to over the");
        // Exactly at the limit is fine, plain or gzip (whose buffer then stops at limit + 1).
        for bytes in [text.as_bytes(), &gzip(text.as_bytes())] {
            let parsed = parse_with_limit("train.csv", bytes, None, &mut |_| go_on(), text.len());
            assert!(parsed.is_ok(), "{parsed:?}");
        }
    }

    #[test]
    fn never_panics_whatever_the_bytes() {
        let mut rng = Rng(0x5eed);
        let valid = train_csv(3).into_bytes();
        let valid_gzip = gzip(&valid);
        let kinds = [None, Some(CsvKind::Train), Some(CsvKind::Test)];
        for round in 0..6000 {
            let mut bytes = match round % 3 {
                0 => (0..rng.below(300)).map(|_| rng.byte()).collect(),
                1 => valid.clone(),
                _ => valid_gzip.clone(),
            };
            if round % 3 != 0 {
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(bytes.len() + 1);
                    match rng.below(5) {
                        0 if at < bytes.len() => bytes[at] = rng.byte(),
                        1 => bytes.insert(at, rng.byte()),
                        2 => bytes.truncate(at),
                        3 => drop(bytes.drain(at..(at + rng.below(50)).min(bytes.len()))),
                        _ => {
                            let end = (at + rng.below(3000)).min(bytes.len());
                            let copy = bytes[at..end].to_vec();
                            bytes.splice(at..at, copy);
                        }
                    }
                }
            }
            let expected = kinds[round % kinds.len()];
            if let Ok(parsed) =
                parse_with_limit("fuzz.csv", &bytes, expected, &mut |_| go_on(), 1 << 20)
            {
                assert_eq!(parsed.pixels.len(), parsed.rows * IMAGE_PIXELS);
                assert!(parsed.labels.iter().all(|&label| label <= 9));
            }
        }
    }
}

//! The CSV text, decompressed: the loop over header and rows with its progress reports, and the
//! `Cursor` that tracks the physical line, so every error can say where it is. The header, the
//! fast row path and the general field parser add their methods to `Cursor` in their own files.

use std::ops::ControlFlow;

use super::error::CsvError;
use super::sniff::check_is_text;
use super::{CsvKind, IMAGE_PIXELS, PROGRESS_STEP, ParsedCsv, Phase, Progress};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

#[cfg(test)]
thread_local! {
    /// Bytes examined by `Cursor::find` on this thread, so tests can prove the scans linear.
    pub(super) static SCANNED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

pub(super) fn parse_text(
    file: &str,
    text: &[u8],
    expected: Option<CsvKind>,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> Result<ParsedCsv, CsvError> {
    let text = text.strip_prefix(UTF8_BOM).unwrap_or(text);
    check_is_text(file, text)?;
    let mut cursor = Cursor {
        file,
        text,
        pos: 0,
        line: 1,
    };
    cursor.skip_blank_lines();
    if cursor.at_end() {
        return Err(CsvError::new(
            file,
            "the file is empty",
            "Choose Kaggle's train.csv or test.csv; if this is one, the download or copy may \
             have failed, so fetch it again.",
        ));
    }
    let kind = cursor.read_header(expected)?;
    cursor.skip_blank_lines();
    if cursor.at_end() {
        return Err(CsvError::new(
            file,
            "the file has a header but no data rows",
            "Choose the full file from Kaggle; this one stops after its header line.",
        ));
    }

    // A row takes at least 2 bytes per value ("0," ... "0\n"), which bounds the row count.
    let max_rows = (text.len() - cursor.pos + 1) / (2 * kind.columns()) + 1;
    let mut pixels = Vec::new();
    let _ = pixels.try_reserve_exact(max_rows * IMAGE_PIXELS);
    let mut labels = Vec::new();
    if kind == CsvKind::Train {
        let _ = labels.try_reserve_exact(max_rows);
    }

    let total = text.len();
    let mut report = |done| {
        let phase = Phase::Parsing;
        super::report(file, progress, Progress { phase, done, total })
    };
    report(0)?;
    let mut next_report = cursor.pos + PROGRESS_STEP;
    let mut row_buffer = [0u8; IMAGE_PIXELS + 1];
    let row = &mut row_buffer[..kind.columns()];
    while !cursor.at_end() {
        cursor.read_row(kind, row)?;
        let (label, image) = row.split_at(kind.label_columns());
        labels.extend_from_slice(label);
        pixels.extend_from_slice(image);
        // Every path reads a row in time linear in its length, so this check after each row
        // keeps reports (and the chance to cancel) about once per MiB.
        if cursor.pos >= next_report {
            report(cursor.pos)?;
            next_report = cursor.pos + PROGRESS_STEP;
        }
        cursor.skip_blank_lines();
    }
    report(total)?;
    let rows = pixels.len() / IMAGE_PIXELS;
    Ok(ParsedCsv {
        kind,
        rows,
        pixels,
        labels,
    })
}

/// Reading position in the text; `line` is the 1-based physical line at `pos`.
pub(super) struct Cursor<'a> {
    pub(super) file: &'a str,
    pub(super) text: &'a [u8],
    pub(super) pos: usize,
    pub(super) line: usize,
}

impl Cursor<'_> {
    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    /// Skips blank and whitespace-only lines (as pandas does) and the next line's leading blanks.
    fn skip_blank_lines(&mut self) {
        while let Some(&byte) = self.text.get(self.pos) {
            match byte {
                b'\n' => self.line += 1,
                b' ' | b'\t' | b'\r' => {}
                _ => break,
            }
            self.pos += 1;
        }
    }

    /// Index of the first byte from `from` on that is `stop`, or the text's length. The general
    /// parser scans only through here, so tests can count the bytes it examines.
    pub(super) fn find(&self, from: usize, stop: impl Fn(u8) -> bool) -> usize {
        let rest = self.text.get(from..).unwrap_or_default();
        let found = rest
            .iter()
            .position(|&b| stop(b))
            .map_or(self.text.len(), |i| from + i);
        #[cfg(test)]
        SCANNED.set(SCANNED.get() + found.saturating_sub(from) + 1);
        found
    }

    /// Index of the `\n` ending the line that holds `from`, or the text's length.
    pub(super) fn line_end(&self, from: usize) -> usize {
        self.find(from, |b| b == b'\n')
    }

    pub(super) fn error(&self, problem: impl Into<String>, hint: impl Into<String>) -> CsvError {
        let error = CsvError::new(self.file, problem, hint);
        CsvError {
            line: Some(self.line),
            ..error
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::data::csv::test_support::{
        assert_at, csv, error, expected_values, fields, gzip, header, parse, train_csv,
    };
    use crate::data::csv::{CsvKind, PROGRESS_STEP, ParsedCsv, parse_csv};

    #[test]
    fn parses_train_rows_in_file_order() {
        let rows: Vec<_> = (0..5).map(|seed| fields(CsvKind::Train, seed)).collect();
        let parsed = parse(csv(CsvKind::Train, &rows).as_bytes(), None).unwrap();
        let (pixels, labels) = expected_values(CsvKind::Train, &rows);
        assert_eq!(
            parsed,
            ParsedCsv {
                kind: CsvKind::Train,
                rows: 5,
                pixels,
                labels
            }
        );
    }

    #[test]
    fn parses_test_files_without_labels() {
        let rows: Vec<_> = (0..3).map(|seed| fields(CsvKind::Test, seed)).collect();
        let text = csv(CsvKind::Test, &rows);
        let (pixels, _) = expected_values(CsvKind::Test, &rows);
        for expected in [None, Some(CsvKind::Test)] {
            let parsed = parse(text.as_bytes(), expected).unwrap();
            let wanted = ParsedCsv {
                kind: CsvKind::Test,
                rows: 3,
                pixels: pixels.clone(),
                labels: vec![],
            };
            assert_eq!(parsed, wanted);
        }
    }

    #[test]
    fn reports_progress_about_once_per_mebibyte() {
        let text = train_csv(3000); // about 5 MB
        let mut calls = 0;
        parse_csv("train.csv", text.as_bytes(), None, &mut |_| calls += 1).unwrap();
        let bound = 2 + text.len() / PROGRESS_STEP + 1;
        assert!(
            (2..=bound).contains(&calls),
            "{calls} calls for {} bytes",
            text.len()
        );
    }

    #[test]
    fn rejects_empty_files() {
        for text in ["", " \n\r\n\t\n", "\u{feff}"] {
            assert_at(&error(text), None, None, "the file is empty");
        }
        let empty_gzip = parse(&gzip(b""), None).unwrap_err();
        assert_at(&empty_gzip, None, None, "the file is empty");
    }

    #[test]
    fn rejects_a_header_without_rows() {
        for text in [header(CsvKind::Train), header(CsvKind::Test) + "\n\n  \n"] {
            assert_at(&error(&text), None, None, "header but no data rows");
        }
    }
}

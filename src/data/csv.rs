//! Kaggle Digit Recognizer CSVs (train.csv, test.csv; plain or gzip) parsed from bytes, since the
//! browser hands over bytes, not paths. One pass, pixels stay `u8`, no allocation per row, no
//! panic whatever the input, and every rejection says where (file, line, column), what was found
//! and how to go on.
#![allow(
    clippy::result_large_err,
    reason = "CsvError's shape is the public API; it is built at most once per file"
)]

use std::fmt;
use std::io::Read;

use flate2::bufread::MultiGzDecoder;
use serde::{Deserialize, Serialize};

pub const IMAGE_SIDE: usize = 28;
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Largest file accepted, compressed or decompressed (Kaggle's train.csv is 76 MB of text).
pub const MAX_INPUT_BYTES: usize = 1 << 30;

/// Bytes between progress reports: about one per MiB, never one per row.
const PROGRESS_STEP: usize = 1 << 20;
/// Most the gzip ISIZE trailer is trusted for pre-sizing, as a multiple of the compressed size:
/// Kaggle's files expand ~9x, and a cut-off file's "trailer" is random (wasm memory never shrinks).
const MAX_PRESIZE_RATIO: usize = 16;
/// Above every valid value; stops digit accumulation from overflowing on long numbers.
const SATURATED: u32 = 1000;
/// How much of the text is inspected up front to tell CSV text from binary data.
const SNIFF_BYTES: usize = 64 * 1024;
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

const PIXEL_HINT: &str = "Pixels are whole numbers from 0 to 255; fix or remove this row.";
const LABEL_HINT: &str =
    "Labels are the digit shown, a whole number from 0 to 9; fix or remove this row.";
const FILE_HINT: &str = "Choose Kaggle's train.csv or test.csv, as plain text or gzip (.csv.gz); \
                         extract ZIP archives first.";

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

/// Why a file was rejected: where (1-based physical line and column, with the column's header
/// name), what was found and expected, and a hint on how to go on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct CsvError {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub column_name: Option<String>,
    pub problem: String,
    pub hint: String,
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(column) = self.column {
            write!(f, ", column {column}")?;
        }
        if let Some(name) = &self.column_name {
            write!(f, " ({name})")?;
        }
        write!(f, ": {}.", self.problem)?;
        if !self.hint.is_empty() {
            write!(f, " {}", self.hint)?;
        }
        Ok(())
    }
}

impl CsvError {
    fn new(file: &str, problem: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line: None,
            column: None,
            column_name: None,
            problem: problem.into(),
            hint: hint.into(),
        }
    }

    /// `column` is 0-based; it is stored 1-based, with its header name when it has one.
    fn in_column(mut self, kind: CsvKind, column: usize) -> Self {
        self.column = Some(column + 1);
        self.column_name = kind.column_name(column);
        self
    }
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
    parse_with_limit(file_name, bytes, expected, progress, MAX_INPUT_BYTES)
}

/// `parse_csv` with the size limit as a parameter, so tests can check it without 1 GiB inputs.
fn parse_with_limit(
    file: &str,
    bytes: &[u8],
    expected: Option<CsvKind>,
    progress: &mut dyn FnMut(Progress),
    limit: usize,
) -> Result<ParsedCsv, CsvError> {
    if bytes.len() > limit {
        let sizes = (size_text(bytes.len()), size_text(limit));
        return Err(too_large(
            file,
            format!("the file is {}, over the {} limit", sizes.0, sizes.1),
        ));
    }
    if bytes.starts_with(GZIP_MAGIC) {
        let text = gunzip(file, bytes, limit, progress)?;
        parse_text(file, &text, expected, progress)
    } else {
        parse_text(file, bytes, expected, progress)
    }
}

fn too_large(file: &str, problem: String) -> CsvError {
    let hint = "Kaggle's train.csv is 76 MB (9 MB gzipped); check that this is the right file.";
    CsvError::new(file, problem, hint)
}

fn size_text(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// Decompresses gzip (one or more members), refusing output over `limit`.
fn gunzip(
    file: &str,
    compressed: &[u8],
    limit: usize,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<u8>, CsvError> {
    let total = compressed.len();
    let report = |done| Progress {
        phase: Phase::Decompressing,
        done,
        total,
    };
    progress(report(0));

    // The ISIZE trailer (size mod 2^32) is only a hint: capped, and a failed reservation just
    // means growing as we go. One extra byte lets the last read see the end without regrowing.
    let mut text = Vec::new();
    if let Some(trailer) = compressed.last_chunk::<4>() {
        let claimed = u32::from_le_bytes(*trailer) as usize;
        let cap = limit.min(total.saturating_mul(MAX_PRESIZE_RATIO));
        let _ = text.try_reserve_exact(claimed.min(cap).saturating_add(1));
    }

    let mut decoder = MultiGzDecoder::new(compressed);
    let mut next_report = PROGRESS_STEP;
    loop {
        let filled = text.len();
        let spare = text.capacity() - filled;
        let chunk = if spare == 0 {
            PROGRESS_STEP
        } else {
            spare.min(PROGRESS_STEP)
        };
        text.resize(filled + chunk, 0);
        let read = decoder.read(&mut text[filled..]).map_err(|error| {
            CsvError::new(
                file,
                format!("the gzip data is corrupt or cut short ({error})"),
                "Download the file again, or decompress it with another tool and load the \
                 plain .csv.",
            )
        })?;
        text.truncate(filled + read);
        if read == 0 {
            break;
        }
        if text.len() > limit {
            let problem = format!(
                "the file decompresses to over the {} limit",
                size_text(limit)
            );
            return Err(too_large(file, problem));
        }
        if text.len() >= next_report {
            progress(report(total - decoder.get_ref().len()));
            next_report = text.len() + PROGRESS_STEP;
        }
    }
    progress(report(total));
    Ok(text)
}

fn parse_text(
    file: &str,
    text: &[u8],
    expected: Option<CsvKind>,
    progress: &mut dyn FnMut(Progress),
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
    let report = |done| Progress {
        phase: Phase::Parsing,
        done,
        total,
    };
    progress(report(0));
    let mut next_report = cursor.pos + PROGRESS_STEP;
    let mut row_buffer = [0u8; IMAGE_PIXELS + 1];
    let row = &mut row_buffer[..kind.columns()];
    while !cursor.at_end() {
        cursor.read_row(kind, row)?;
        let (label, image) = row.split_at(kind.label_columns());
        labels.extend_from_slice(label);
        pixels.extend_from_slice(image);
        if cursor.pos >= next_report {
            progress(report(cursor.pos));
            next_report = cursor.pos + PROGRESS_STEP;
        }
        cursor.skip_blank_lines();
    }
    progress(report(total));
    let rows = pixels.len() / IMAGE_PIXELS;
    Ok(ParsedCsv {
        kind,
        rows,
        pixels,
        labels,
    })
}

/// Rejects binary data up front, so it gets one clear message instead of a confusing header or
/// value error.
fn check_is_text(file: &str, text: &[u8]) -> Result<(), CsvError> {
    let sniff = &text[..text.len().min(SNIFF_BYTES)];
    let reason = if sniff.starts_with(b"PK\x03\x04") {
        "it is a ZIP archive"
    } else if sniff.starts_with(b"\xFF\xFE") || sniff.starts_with(b"\xFE\xFF") {
        "it is UTF-16 text; save it as UTF-8"
    } else if sniff.contains(&0) {
        "it contains NUL bytes"
    } else if std::str::from_utf8(sniff).is_err_and(|e| e.error_len().is_some()) {
        // `error_len() == None` is only a character cut at the end of the sniffed part.
        "it is not UTF-8 text"
    } else if sniff.iter().any(|&b| is_binary_control(b)) {
        "it contains control characters"
    } else {
        return Ok(());
    };
    Err(CsvError::new(
        file,
        format!("this does not look like a CSV text file ({reason})"),
        FILE_HINT,
    ))
}

fn is_binary_control(byte: u8) -> bool {
    (byte < 0x20 && !matches!(byte, b'\t' | b'\n' | b'\r' | 0x0c)) || byte == 0x7f
}

/// Reading position in the text; `line` is the 1-based physical line at `pos`.
struct Cursor<'a> {
    file: &'a str,
    text: &'a [u8],
    pos: usize,
    line: usize,
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

    /// Index of the `\n` ending the line that holds `from`, or the text's length.
    fn line_end(&self, from: usize) -> usize {
        let rest = self.text.get(from..).unwrap_or_default();
        rest.iter()
            .position(|&b| b == b'\n')
            .map_or(self.text.len(), |i| from + i)
    }

    fn error(&self, problem: impl Into<String>, hint: impl Into<String>) -> CsvError {
        let error = CsvError::new(self.file, problem, hint);
        CsvError {
            line: Some(self.line),
            ..error
        }
    }

    /// Reads the header line: detects the kind from its first name, then checks every name.
    fn read_header(&mut self, expected: Option<CsvKind>) -> Result<CsvKind, CsvError> {
        let end = self.line_end(self.pos);
        let names = self.text[self.pos..end].split(|&b| b == b',').map(unquote);
        let first = names.clone().next().unwrap_or_default();
        let wanted = match expected {
            Some(kind) => format!("`{}`", kind.header_text()),
            None => {
                "`label,pixel0,...,pixel783` (train.csv) or `pixel0,...,pixel783` (test.csv)".into()
            }
        };
        let kind = match first {
            b"label" => CsvKind::Train,
            b"pixel0" => CsvKind::Test,
            _ if looks_numeric(first) => {
                let first = show(first);
                let problem =
                    format!("the first line starts with {first}: the header line is missing");
                let hint =
                    format!("Add the header line {wanted} at the top, or use Kaggle's file.");
                return Err(self.error(problem, hint));
            }
            _ => {
                let problem = format!("the header starts with {}; expected {wanted}", show(first));
                let error = self.error(problem, "Use Kaggle's original header line.");
                let column_name = expected.and_then(|kind| kind.column_name(0));
                return Err(CsvError {
                    column: Some(1),
                    column_name,
                    ..error
                });
            }
        };
        if expected.is_some_and(|expected| expected != kind) {
            return Err(match kind {
                CsvKind::Test => self.error(
                    "this is an unlabelled test file (its header starts with `pixel0`, there is \
                     no `label` column); a labelled training file was expected",
                    "Load it as the test file (the images to predict), and choose train.csv here.",
                ),
                CsvKind::Train => self.error(
                    "this is a labelled training file (its header starts with `label`); an \
                     unlabelled test file was expected",
                    "Load it as the training file, and choose test.csv here.",
                ),
            });
        }

        let count = names.clone().count();
        let header_error = |problem: String, column| {
            let hint = format!("Kaggle's header is `{}`; fix it.", kind.header_text());
            self.error(problem, hint).in_column(kind, column)
        };
        let count_problem = || {
            format!(
                "the header has {count} columns; expected {}",
                kind.columns()
            )
        };
        for (column, name) in names.enumerate() {
            let Some(wanted) = kind.column_name(column) else {
                return Err(header_error(count_problem(), column));
            };
            if name != wanted.as_bytes() {
                let problem = format!(
                    "the header names this column {}; expected `{wanted}`",
                    show(name)
                );
                return Err(header_error(problem, column));
            }
        }
        if count < kind.columns() {
            return Err(header_error(count_problem(), count));
        }
        self.pos = (end + 1).min(self.text.len());
        self.line += 1;
        Ok(kind)
    }

    /// Reads one data row into `row` (one value per column). Plain fields take a fast path (runs
    /// of `0,` eight bytes at a time, as most pixels are background); anything else (blanks,
    /// quotes, every error) goes through `read_field_slowly`.
    fn read_row(&mut self, kind: CsvKind, row: &mut [u8]) -> Result<(), CsvError> {
        let text = self.text;
        let last = row.len() - 1;
        let mut pos = self.pos;
        let mut column = 0;
        while column < last {
            if column + 4 <= last && text.get(pos..pos + 8) == Some(b"0,0,0,0,") {
                row[column..column + 4].fill(0);
                column += 4;
                pos += 8;
                continue;
            }
            let (value, digits) = scan_number(text, pos);
            if digits > 0 && value <= 255 && text.get(pos + digits) == Some(&b',') {
                row[column] = value as u8;
                pos += digits + 1;
            } else {
                (row[column], pos) = self.read_field_slowly(kind, column, pos)?;
            }
            column += 1;
        }
        let (value, digits) = scan_number(text, pos);
        let line_end = match text.get(pos + digits) {
            None => Some(0),
            Some(b'\n') => Some(1),
            Some(b'\r') if text.get(pos + digits + 1) == Some(&b'\n') => Some(2),
            Some(_) => None,
        };
        match line_end {
            Some(length) if digits > 0 && value <= 255 => {
                row[last] = value as u8;
                pos += digits + length;
            }
            _ => (row[last], pos) = self.read_field_slowly(kind, last, pos)?,
        }
        // The fast path only checked 0..=255.
        if kind == CsvKind::Train && row[0] > 9 {
            return Err(self.out_of_range(kind, 0, &row[0].to_string()));
        }
        self.pos = pos;
        self.line += 1;
        Ok(())
    }

    /// Reads the field at `start` with blanks and quotes allowed, or says precisely what is wrong
    /// with it. Returns its value and the position after its separator.
    #[cold]
    fn read_field_slowly(
        &self,
        kind: CsvKind,
        column: usize,
        start: usize,
    ) -> Result<(u8, usize), CsvError> {
        let line_end = self.line_end(start);
        let line = &self.text[start..line_end];
        let field = line.trim_ascii_start();
        let (value, rest) = if let Some(quoted) = field.strip_prefix(b"\"") {
            let Some(close) = quoted.iter().position(|&b| b == b'"') else {
                let problem = "a quote opens here but does not close on this line".to_owned();
                return Err(self.value_error(kind, column, problem));
            };
            (&quoted[..close], quoted[close + 1..].trim_ascii_start())
        } else {
            let end = field.iter().position(|&b| b == b',').unwrap_or(field.len());
            field.split_at(end)
        };
        if rest.first().is_some_and(|&b| b != b',') {
            let junk = rest.split(|&b| b == b',').next().unwrap_or_default();
            let problem = format!("unexpected {} after the closing quote", show(junk));
            return Err(self.value_error(kind, column, problem));
        }

        let last = kind.columns() - 1;
        let wrong_count = |found: usize, first_bad: usize| {
            let expected = kind.columns();
            self.error(
                format!("the row has {found} values; expected {expected} like the header"),
                "The file may be cut short or edited: fix the row, or download the file again.",
            )
            .in_column(kind, first_bad)
        };
        // A short row is reported as such before its last value (often cut off) is judged.
        if rest.is_empty() && column < last {
            return Err(wrong_count(column + 1, column + 1));
        }
        let value = self.field_value(kind, column, value.trim_ascii())?;
        match (rest.is_empty(), column == last) {
            (true, _) => Ok((value, (line_end + 1).min(self.text.len()))),
            (false, false) => Ok((value, line_end - rest.len() + 1)),
            (false, true) => {
                let extra_values = rest.iter().filter(|&&b| b == b',').count();
                Err(wrong_count(column + 1 + extra_values, column + 1))
            }
        }
    }

    /// The value of a trimmed, unquoted field, or what is wrong with it.
    fn field_value(&self, kind: CsvKind, column: usize, value: &[u8]) -> Result<u8, CsvError> {
        let (range, max) = if column < kind.label_columns() {
            ("0..9", 9)
        } else {
            ("0..255", 255)
        };
        let digits = value.strip_prefix(b"-").unwrap_or(value);
        if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
            let number = parse_digits(digits);
            let negative = digits.len() < value.len() && number > 0;
            if negative || number > max {
                return Err(self.out_of_range(kind, column, &String::from_utf8_lossy(value)));
            }
            return Ok(number as u8);
        }
        let (shown, as_text) = (show(value), std::str::from_utf8(value));
        let problem = if value.is_empty() {
            format!("the value is empty; expected a whole number {range}")
        } else if as_text.is_err() || value.iter().any(|&b| is_binary_control(b)) {
            format!("found binary data {shown}; this part of the file is not CSV text")
        } else if as_text.is_ok_and(|s| s.parse::<f64>().is_ok_and(f64::is_finite)) {
            format!("value {shown} is not a whole number; expected an integer {range}")
        } else {
            format!("value {shown} is not a number; expected an integer {range}")
        };
        Err(self.value_error(kind, column, problem))
    }

    fn out_of_range(&self, kind: CsvKind, column: usize, value: &str) -> CsvError {
        let problem = if column < kind.label_columns() {
            format!("label {value} is outside 0..9")
        } else {
            format!("value {value} is outside 0..255")
        };
        self.value_error(kind, column, problem)
    }

    /// An error in a data field, with the hint for its column (label or pixel).
    fn value_error(&self, kind: CsvKind, column: usize, problem: String) -> CsvError {
        let hint = if column < kind.label_columns() {
            LABEL_HINT
        } else {
            PIXEL_HINT
        };
        self.error(problem, hint).in_column(kind, column)
    }
}

/// The value and count of the digits at `pos`, for the fast path: branch-free on four bytes at
/// once, since digit counts vary unpredictably (`0` vs `255`). Four or more digits give a value
/// above 255, which sends the field to the slow path.
#[inline(always)]
fn scan_number(text: &[u8], pos: usize) -> (u32, usize) {
    let rest = text.get(pos..).unwrap_or_default();
    let Some(&word) = rest.first_chunk::<4>() else {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        return (parse_digits(&rest[..digits]), digits);
    };
    // Digits become 0..=9; any byte outside that gets its top bit set in `non_digits`.
    let values = u32::from_le_bytes(word) ^ 0x3030_3030;
    let non_digits = (((values & 0x7f7f_7f7f) + 0x7676_7676) | values) & 0x8080_8080;
    let digits = (non_digits.trailing_zeros() / 8) as usize;
    if digits > 3 {
        return (SATURATED, digits);
    }
    // Right-align the digits in bytes 0..=2 (hundreds, tens, ones), dropping what follows them.
    let aligned = values << (8 * (3 - digits));
    let value = (aligned & 0xff) * 100 + (aligned >> 8 & 0xff) * 10 + (aligned >> 16 & 0xff);
    (value, digits)
}

/// The value of ASCII digits, saturating at a value above any valid one.
fn parse_digits(digits: &[u8]) -> u32 {
    digits.iter().fold(0, |n, &d| {
        (n * 10 + u32::from(d.wrapping_sub(b'0'))).min(SATURATED)
    })
}

/// A header name without surrounding blanks and quotes.
fn unquote(field: &[u8]) -> &[u8] {
    let field = field.trim_ascii();
    match field
        .strip_prefix(b"\"")
        .and_then(|f| f.strip_suffix(b"\""))
    {
        Some(inner) => inner.trim_ascii(),
        None => field,
    }
}

fn looks_numeric(field: &[u8]) -> bool {
    field.iter().any(u8::is_ascii_digit)
        && field
            .iter()
            .all(|b| b.is_ascii_digit() || b"+-.".contains(b))
}

/// A field as shown in a message: backquoted, escaped if not plain text, cut if long.
fn show(bytes: &[u8]) -> String {
    const MAX: usize = 40;
    let cut = &bytes[..bytes.len().min(MAX)];
    let text = match std::str::from_utf8(cut) {
        Ok(text) if !text.chars().any(char::is_control) => text.to_owned(),
        _ => cut.escape_ascii().to_string(),
    };
    let ellipsis = if bytes.len() > MAX { "..." } else { "" };
    format!("`{text}{ellipsis}`")
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn header(kind: CsvKind) -> String {
        let names: Vec<_> = (0..kind.columns())
            .filter_map(|c| kind.column_name(c))
            .collect();
        names.join(",")
    }

    /// A row's fields: the label (Train) then pixels mixing runs of zeros with 1- to 3-digit
    /// values, like real digits.
    fn fields(kind: CsvKind, seed: usize) -> Vec<String> {
        let label = (kind == CsvKind::Train).then(|| (seed % 10).to_string());
        let pixel = |i: usize| {
            if (i / 5 + seed).is_multiple_of(3) {
                (i * 37 + seed) % 256
            } else {
                0
            }
        };
        label
            .into_iter()
            .chain((0..IMAGE_PIXELS).map(|i| pixel(i).to_string()))
            .collect()
    }

    fn csv(kind: CsvKind, rows: &[Vec<String>]) -> String {
        let lines: Vec<_> = rows.iter().map(|fields| fields.join(",") + "\n").collect();
        format!("{}\n{}", header(kind), lines.concat())
    }

    fn train_csv(rows: usize) -> String {
        let rows: Vec<_> = (0..rows).map(|seed| fields(CsvKind::Train, seed)).collect();
        csv(CsvKind::Train, &rows)
    }

    /// What `rows` should parse to: pixels and labels.
    fn expected_values(kind: CsvKind, rows: &[Vec<String>]) -> (Vec<u8>, Vec<u8>) {
        let (mut pixels, mut labels) = (Vec::new(), Vec::new());
        for row in rows {
            let values = row.iter().map(|v| v.parse::<u8>().unwrap());
            let (label, image): (Vec<_>, Vec<_>) = values
                .enumerate()
                .partition(|(c, _)| *c < kind.label_columns());
            labels.extend(label.into_iter().map(|(_, v)| v));
            pixels.extend(image.into_iter().map(|(_, v)| v));
        }
        (pixels, labels)
    }

    fn parse(bytes: &[u8], expected: Option<CsvKind>) -> Result<ParsedCsv, CsvError> {
        parse_csv("train.csv", bytes, expected, &mut |_| {})
    }

    fn error(text: &str) -> CsvError {
        parse(text.as_bytes(), None).expect_err("should be rejected")
    }

    /// A train.csv whose row 1 (physical line 2) has `value` in 0-based column `column`.
    fn with_value(column: usize, value: &str) -> String {
        let mut rows = vec![fields(CsvKind::Train, 0), fields(CsvKind::Train, 1)];
        rows[0][column] = value.to_owned();
        csv(CsvKind::Train, &rows)
    }

    #[track_caller]
    fn assert_at(error: &CsvError, line: Option<usize>, column: Option<usize>, needle: &str) {
        assert_eq!((error.line, error.column), (line, column), "{error}");
        assert!(
            error.to_string().contains(needle),
            "{error:?} lacks {needle:?}"
        );
        assert!(
            !error.hint.is_empty() && error.file == "train.csv",
            "{error:?}"
        );
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

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
    fn random_values_and_layouts_parse_exactly() {
        // Values of every width and leading zeros, mostly plain, sometimes blanks or quotes,
        // so both the fast path and the field-by-field path are checked against the truth.
        let mut rng = Rng(7);
        for _ in 0..30 {
            let mut rows = Vec::new();
            let mut texts = Vec::new();
            for _ in 0..4 {
                let values: Vec<u8> = (0..785)
                    .map(|c| match (c, rng.below(4)) {
                        (0, _) => rng.below(10) as u8,
                        (_, 0) => rng.below(256) as u8,
                        _ => 0,
                    })
                    .collect();
                let text: Vec<String> = values
                    .iter()
                    .map(|v| match rng.below(40) {
                        0 => format!(" {v}\t"),
                        1 => format!("\"{v}\""),
                        2 => format!("00{v}"),
                        _ => v.to_string(),
                    })
                    .collect();
                rows.push(values.iter().map(u8::to_string).collect::<Vec<_>>());
                texts.push(text);
            }
            let (pixels, labels) = expected_values(CsvKind::Train, &rows);
            let parsed = parse(csv(CsvKind::Train, &texts).as_bytes(), None).unwrap();
            assert_eq!((parsed.pixels, parsed.labels), (pixels, labels));
        }
    }

    #[test]
    fn accepts_unusual_but_valid_text() {
        let rows: Vec<_> = (0..3).map(|seed| fields(CsvKind::Train, seed)).collect();
        let plain = csv(CsvKind::Train, &rows);
        let wanted = parse(plain.as_bytes(), None).unwrap();
        let quoted = |text: &str| {
            let lines: Vec<_> = text
                .lines()
                .map(|l| format!("\"{}\"", l.replace(',', "\",\"")))
                .collect();
            lines.join("\n")
        };
        let variants = [
            plain.replace('\n', "\r\n"),
            format!("\u{feff}{plain}"),
            plain.trim_end().to_owned(),
            plain.trim_end().replace('\n', "\r\n"),
            format!("\n \n\t\r\n{}\n\n   \n{}\n\r\n\n", plain.trim_end(), "  \t"),
            plain.replacen('\n', "\n\n  \n", 2),
            quoted(&plain),
            plain.replace(',', " ,\t"),
            plain.replace(',', ", ").replace('\n', " \n"),
            plain.replace(",0,", ",000,"),
        ];
        for (i, text) in variants.iter().enumerate() {
            assert_eq!(
                parse(text.as_bytes(), Some(CsvKind::Train)).as_ref(),
                Ok(&wanted),
                "variant {i}"
            );
        }
    }

    #[test]
    fn reads_gzip_by_magic_bytes_and_reports_progress() {
        let text = train_csv(40);
        let compressed = gzip(text.as_bytes());
        let mut reports = Vec::new();
        let parsed = parse_csv("data.bin", &compressed, None, &mut |p| reports.push(p)).unwrap();
        assert_eq!(parsed, parse(text.as_bytes(), None).unwrap());
        let in_phase = |phase| reports.iter().filter(move |p: &&Progress| p.phase == phase);
        for (phase, total) in [
            (Phase::Decompressing, compressed.len()),
            (Phase::Parsing, text.len()),
        ] {
            let done: Vec<_> = in_phase(phase).map(|p| p.done).collect();
            assert!(in_phase(phase).all(|p| p.total == total), "{reports:?}");
            assert!(
                done.first() == Some(&0) && done.last() == Some(&total),
                "{reports:?}"
            );
            assert!(done.windows(2).all(|w| w[0] <= w[1]), "{reports:?}");
        }
        assert_eq!(reports.first().map(|p| p.phase), Some(Phase::Decompressing));
        // Concatenated gzip members are one valid gzip file.
        let half = text.len() / 2;
        let members = [
            gzip(&text.as_bytes()[..half]),
            gzip(&text.as_bytes()[half..]),
        ]
        .concat();
        assert_eq!(parse(&members, None).unwrap(), parsed);
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

    #[test]
    fn rejects_a_missing_header() {
        let rows = [fields(CsvKind::Train, 3)];
        let text = csv(CsvKind::Train, &rows);
        let headerless = text.split_once('\n').unwrap().1;
        assert_at(&error(headerless), Some(1), None, "header line is missing");
        let error = error(&format!("\n\n{headerless}"));
        assert_at(&error, Some(3), None, "the first line starts with `3`");
    }

    #[test]
    fn rejects_wrong_header_names() {
        let text = train_csv(2).replacen("pixel2,", "px3,", 1);
        let error = error(&text);
        assert_at(
            &error,
            Some(1),
            Some(4),
            "column 4 (pixel2): the header names this column `px3`",
        );
        let error = super::tests::error(&text.replacen("label", "digit", 1));
        assert_at(
            &error,
            Some(1),
            Some(1),
            "the header starts with `digit`; expected",
        );
        let error = parse(
            text.replacen("label", "lbl", 1).as_bytes(),
            Some(CsvKind::Train),
        )
        .unwrap_err();
        assert_eq!(error.column_name.as_deref(), Some("label"));
    }

    #[test]
    fn rejects_a_wrong_count_of_header_columns() {
        let text = train_csv(2);
        let (head, body) = text.split_once('\n').unwrap();
        let short: Vec<_> = head.split(',').take(700).collect();
        let error = error(&format!("{}\n{body}", short.join(",")));
        assert_at(
            &error,
            Some(1),
            Some(701),
            "the header has 700 columns; expected 785",
        );
        assert_eq!(error.column_name.as_deref(), Some("pixel699"));
        let error = super::tests::error(&format!("{head},extra\n{body}"));
        assert_at(
            &error,
            Some(1),
            Some(786),
            "the header has 786 columns; expected 785",
        );
    }

    #[test]
    fn rejects_a_test_file_where_training_data_is_expected_and_back() {
        let test = csv(CsvKind::Test, &[fields(CsvKind::Test, 0)]);
        let error = parse(test.as_bytes(), Some(CsvKind::Train)).unwrap_err();
        assert_at(&error, Some(1), None, "unlabelled test file");
        assert!(error.hint.contains("Load it as the test file"), "{error}");
        let error = parse(train_csv(1).as_bytes(), Some(CsvKind::Test)).unwrap_err();
        assert_at(&error, Some(1), None, "labelled training file");
        assert!(
            error.hint.contains("Load it as the training file"),
            "{error}"
        );
    }

    #[test]
    fn rejects_rows_with_a_wrong_column_count() {
        let text = train_csv(3);
        let mut lines: Vec<_> = text.lines().map(str::to_owned).collect();
        lines[2] = "1,0,0".to_owned();
        let error = error(&lines.join("\n"));
        assert_at(
            &error,
            Some(3),
            Some(4),
            "(pixel2): the row has 3 values; expected 785",
        );
        lines[2] = lines[1].clone() + ",7,8";
        assert_at(
            &super::tests::error(&lines.join("\n")),
            Some(3),
            Some(786),
            "787 values",
        );
        lines[2] = lines[1].clone() + ",";
        assert_at(
            &super::tests::error(&lines.join("\n")),
            Some(3),
            Some(786),
            "786 values",
        );
        // A file cut mid-row: right after a comma, and in a value.
        let cut = &text[..text.rfind(',').unwrap() + 1];
        let error = super::tests::error(cut);
        assert_at(&error, Some(4), Some(785), "(pixel783): the value is empty");
        let error = super::tests::error(&text[..text.len() - 600]);
        assert_at(
            &error,
            Some(4),
            Some(549),
            "(pixel547): the row has 548 values; expected",
        );
    }

    #[test]
    fn rejects_values_that_are_not_whole_numbers() {
        let cases = [
            (
                16,
                "abc",
                "(pixel15): value `abc` is not a number; expected an integer 0..255",
            ),
            (1, "", "(pixel0): the value is empty"),
            (
                5,
                "12.5",
                "value `12.5` is not a whole number; expected an integer 0..255",
            ),
            (
                0,
                "1e0",
                "(label): value `1e0` is not a whole number; expected an integer 0..9",
            ),
            (9, "\"12", "a quote opens here but does not close"),
            (9, "\"12\"x", "unexpected `x` after the closing quote"),
            (9, "1 2", "value `1 2` is not a number"),
        ];
        for (column, value, needle) in cases {
            assert_at(
                &error(&with_value(column, value)),
                Some(2),
                Some(column + 1),
                needle,
            );
        }
        let error = error(&with_value(1, "0").replacen("\n0,0,", "\n0,,", 1));
        assert_at(&error, Some(2), Some(2), "(pixel0): the value is empty");
    }

    #[test]
    fn rejects_values_out_of_range() {
        let mut rows: Vec<_> = (0..5).map(|seed| fields(CsvKind::Train, seed)).collect();
        rows[3][16] = "300".to_owned();
        let error = error(&csv(CsvKind::Train, &rows));
        assert_eq!(
            error.to_string(),
            format!(
                "train.csv, line 5, column 17 (pixel15): value 300 is outside 0..255. {PIXEL_HINT}"
            )
        );
        for (column, value, needle) in [
            (784, "-3", "(pixel783): value -3 is outside 0..255"),
            (400, "99999999999", "value 99999999999 is outside 0..255"),
            (0, "12", "(label): label 12 is outside 0..9"),
            (0, "-1", "label -1 is outside 0..9"),
            (0, "300", "label 300 is outside 0..9"),
        ] {
            let error = super::tests::error(&with_value(column, value));
            assert_at(&error, Some(2), Some(column + 1), needle);
        }
    }

    #[test]
    fn rejects_binary_data() {
        let cases: [&[u8]; 6] = [
            b"label,pixel0\0\0\0",
            b"\xff\xd8\xff\xe0 jpeg",
            b"PK\x03\x04 zip archive",
            b"\xff\xfel\0a\0b\0",
            b"label,\x01\x02\x03",
            &[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a],
        ];
        for bytes in cases {
            let error = parse(bytes, None).unwrap_err();
            assert_at(&error, None, None, "does not look like a CSV text file");
        }
        // Past the part sniffed up front, binary data is reported where it is.
        let mut text = train_csv(60).into_bytes();
        let at = text.len() - 700;
        text[at] = 0;
        let error = parse(&text, None).unwrap_err();
        assert!(
            error.line == Some(61) && error.problem.contains("binary data"),
            "{error}"
        );
    }

    #[test]
    fn rejects_corrupt_or_truncated_gzip() {
        let compressed = gzip(train_csv(20).as_bytes());
        let mut corrupt = compressed.clone();
        for i in (20..corrupt.len() - 20).step_by(97) {
            corrupt[i] ^= 0x5a;
        }
        let cases = [
            corrupt,
            compressed[..compressed.len() / 2].to_vec(),
            compressed[..compressed.len() - 3].to_vec(),
            vec![0x1f, 0x8b],
        ];
        for bytes in cases {
            let error = parse(&bytes, None).unwrap_err();
            assert_at(&error, None, None, "the gzip data is corrupt or cut short");
        }
    }

    #[test]
    fn refuses_inputs_over_the_size_limit() {
        assert_eq!(MAX_INPUT_BYTES, 1 << 30);
        let text = train_csv(3);
        let limit = text.len() - 1;
        let refuse = |bytes: &[u8]| parse_with_limit("train.csv", bytes, None, &mut |_| {}, limit);
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
        assert!(
            parse_with_limit("train.csv", text.as_bytes(), None, &mut |_| {}, text.len()).is_ok()
        );
    }

    #[test]
    fn display_omits_missing_parts() {
        let error = CsvError::new("test.csv", "the file is empty", "Try again.");
        assert_eq!(error.to_string(), "test.csv: the file is empty. Try again.");
        let error = CsvError {
            line: Some(3),
            ..error
        };
        assert_eq!(
            error.to_string(),
            "test.csv, line 3: the file is empty. Try again."
        );
    }

    /// xorshift64*: a tiny deterministic generator for the fuzz-style tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn byte(&mut self) -> u8 {
            const CSV_BYTES: &[u8] = b"0123456789,,,,\n\r \t\"-.e+\xef\xbb\xbf\0";
            if self.below(4) == 0 {
                self.next() as u8
            } else {
                CSV_BYTES[self.below(CSV_BYTES.len())]
            }
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
            if let Ok(parsed) = parse_with_limit("fuzz.csv", &bytes, expected, &mut |_| {}, 1 << 20)
            {
                assert_eq!(parsed.pixels.len(), parsed.rows * IMAGE_PIXELS);
                assert!(parsed.labels.iter().all(|&label| label <= 9));
            }
        }
    }
}

//! What the csv unit tests share: Kaggle-shaped files built from seeds, parse and check helpers,
//! and a tiny deterministic generator for the fuzz-style tests.

use std::io::Write;
use std::ops::ControlFlow;

use super::{CsvError, CsvKind, IMAGE_PIXELS, ParsedCsv, parse_csv};

pub(super) fn header(kind: CsvKind) -> String {
    let names: Vec<_> = (0..kind.columns())
        .filter_map(|c| kind.column_name(c))
        .collect();
    names.join(",")
}

/// A row's fields: the label (Train) then pixels mixing runs of zeros with 1- to 3-digit
/// values, like real digits.
pub(super) fn fields(kind: CsvKind, seed: usize) -> Vec<String> {
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

pub(super) fn csv(kind: CsvKind, rows: &[Vec<String>]) -> String {
    let lines: Vec<_> = rows.iter().map(|fields| fields.join(",") + "\n").collect();
    format!("{}\n{}", header(kind), lines.concat())
}

pub(super) fn train_csv(rows: usize) -> String {
    let rows: Vec<_> = (0..rows).map(|seed| fields(CsvKind::Train, seed)).collect();
    csv(CsvKind::Train, &rows)
}

/// What `rows` should parse to: pixels and labels.
pub(super) fn expected_values(kind: CsvKind, rows: &[Vec<String>]) -> (Vec<u8>, Vec<u8>) {
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

/// A progress callback's answer that never cancels.
pub(super) fn go_on() -> ControlFlow<()> {
    ControlFlow::Continue(())
}

/// `text` with every field of every line quoted: all of it goes through the general parser.
pub(super) fn all_quoted(text: &str) -> String {
    let lines: Vec<_> = text
        .lines()
        .map(|l| format!("\"{}\"", l.replace(',', "\",\"")))
        .collect();
    lines.join("\n") + "\n"
}

pub(super) fn parse(bytes: &[u8], expected: Option<CsvKind>) -> Result<ParsedCsv, CsvError> {
    parse_csv("train.csv", bytes, expected, &mut |_| {})
}

pub(super) fn error(text: &str) -> CsvError {
    parse(text.as_bytes(), None).expect_err("should be rejected")
}

/// A train.csv whose row 1 (physical line 2) has `value` in 0-based column `column`.
pub(super) fn with_value(column: usize, value: &str) -> String {
    let mut rows = vec![fields(CsvKind::Train, 0), fields(CsvKind::Train, 1)];
    rows[0][column] = value.to_owned();
    csv(CsvKind::Train, &rows)
}

#[track_caller]
pub(super) fn assert_at(
    error: &CsvError,
    line: Option<usize>,
    column: Option<usize>,
    needle: &str,
) {
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

pub(super) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// xorshift64*: a tiny deterministic generator for the fuzz-style tests.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub(super) fn byte(&mut self) -> u8 {
        const CSV_BYTES: &[u8] = b"0123456789,,,,\n\r \t\"-.e+\xef\xbb\xbf\0";
        if self.below(4) == 0 {
            self.next() as u8
        } else {
            CSV_BYTES[self.below(CSV_BYTES.len())]
        }
    }
}

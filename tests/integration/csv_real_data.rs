//! The CSV parser on Kaggle's real files, checked against a plain independent reading.

use std::io::{Read, Write};

use crate::common;
use digit_lab::data::csv::{CsvKind, IMAGE_PIXELS, ParsedCsv, parse_csv};

/// A file of Kaggle's data (`shared/data` beside the crate).
fn data_file(name: &str) -> Vec<u8> {
    let path = common::data_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut text)
        .expect("valid gzip");
    text
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// The data rows as numbers, by plain splitting (independent of the parser under test).
fn plain_rows(text: &[u8]) -> Vec<Vec<u32>> {
    let text = std::str::from_utf8(text).expect("UTF-8");
    let rows = text.lines().skip(1).filter(|line| !line.trim().is_empty());
    rows.map(|line| {
        line.split(',')
            .map(|v| v.trim().parse().expect("a number"))
            .collect()
    })
    .collect()
}

fn parse(name: &str, bytes: &[u8], expected: Option<CsvKind>) -> ParsedCsv {
    parse_csv(name, bytes, expected, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"))
}

/// Checks `parsed` against the plain reading of `text`: every label and pixel.
fn assert_matches_plain_reading(parsed: &ParsedCsv, text: &[u8]) {
    let rows = plain_rows(text);
    let label_columns = usize::from(parsed.kind == CsvKind::Train);
    assert_eq!(parsed.rows, rows.len());
    assert!(
        rows.iter()
            .all(|row| row.len() == label_columns + IMAGE_PIXELS)
    );
    let labels: Vec<u32> = rows
        .iter()
        .take_while(|_| label_columns == 1)
        .map(|row| row[0])
        .collect();
    let pixels: Vec<u32> = rows
        .iter()
        .flat_map(|row| row[label_columns..].iter().copied())
        .collect();
    assert_eq!(
        parsed
            .labels
            .iter()
            .map(|&l| u32::from(l))
            .collect::<Vec<_>>(),
        labels
    );
    assert!(parsed.pixels.iter().map(|&p| u32::from(p)).eq(pixels));
}

#[test]
fn first_rows_of_train_csv_match_a_plain_reading() {
    let text = gunzip(&data_file("train.csv.gz"));
    // The header and 20 complete rows.
    let end = text
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(20)
        .unwrap()
        .0
        + 1;
    let head = &text[..end];
    let parsed = parse("train.csv", head, None);
    assert_eq!((parsed.kind, parsed.rows), (CsvKind::Train, 20));
    assert_eq!(parsed.pixels.len(), 20 * IMAGE_PIXELS);

    let line_2 = std::str::from_utf8(head).unwrap().lines().nth(1).unwrap();
    let label: u8 = line_2.split(',').next().unwrap().parse().unwrap();
    assert_eq!(parsed.labels[0], label);
    let pixel_sum: u32 = line_2
        .split(',')
        .skip(1)
        .map(|v| v.parse::<u32>().unwrap())
        .sum();
    assert_eq!(
        parsed.pixels[..IMAGE_PIXELS]
            .iter()
            .map(|&p| u32::from(p))
            .sum::<u32>(),
        pixel_sum
    );
    assert_matches_plain_reading(&parsed, head);

    // The same rows gzipped, or with Windows line ends, parse the same.
    assert_eq!(
        parse("train.csv.gz", &gzip(head), Some(CsvKind::Train)),
        parsed
    );
    let crlf = std::str::from_utf8(head).unwrap().replace('\n', "\r\n");
    assert_eq!(
        parse("train.csv", crlf.as_bytes(), Some(CsvKind::Train)),
        parsed
    );
}

#[test]
fn whole_test_csv_gz() {
    let compressed = data_file("test.csv.gz");
    let mut progress_calls = 0;
    let parsed = parse_csv("test.csv.gz", &compressed, None, &mut |_| {
        progress_calls += 1
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((parsed.kind, parsed.rows), (CsvKind::Test, 28_000));
    assert!(parsed.labels.is_empty());
    assert_eq!(parsed.pixels.len(), 28_000 * IMAGE_PIXELS);
    assert!(progress_calls < 200, "{progress_calls} progress calls");
    assert_matches_plain_reading(&parsed, &gunzip(&compressed));
}

#[test]
fn whole_train_csv_gz() {
    let compressed = data_file("train.csv.gz");
    let parsed = parse("train.csv.gz", &compressed, Some(CsvKind::Train));
    assert_eq!((parsed.kind, parsed.rows), (CsvKind::Train, 42_000));
    let mut counts = [0usize; 10];
    for &label in &parsed.labels {
        counts[usize::from(label)] += 1;
    }
    assert_eq!(counts.iter().sum::<usize>(), 42_000);
    assert!(counts.iter().all(|&count| count > 3_000), "{counts:?}");
    assert_matches_plain_reading(&parsed, &gunzip(&compressed));
}

#[test]
fn test_csv_is_refused_as_training_data() {
    let error = parse_csv(
        "test.csv.gz",
        &data_file("test.csv.gz"),
        Some(CsvKind::Train),
        &mut |_| {},
    )
    .expect_err("test.csv has no labels");
    assert_eq!(error.line, Some(1));
    assert!(error.hint.contains("Load it as the test file"), "{error}");
}

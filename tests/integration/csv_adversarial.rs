//! The CSV parser on Kaggle's real rows laid out to miss its fast path (every field quoted, all
//! rows on one line), and with a caller that cancels. That the work is linear is proven by the
//! unit tests' byte counts (src/data/csv/general.rs); here the answers, the progress reports and
//! cancelling are checked.

use std::io::Write;
use std::ops::ControlFlow;

use crate::common;
use digit_lab::data::csv::{
    CsvError, ParsedCsv, Phase, Progress, parse_csv, parse_csv_cancellable,
};

const MIB: usize = 1 << 20;

/// `text` with every field of every line quoted.
fn all_quoted(text: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(text).expect("UTF-8");
    let lines = text
        .lines()
        .map(|l| format!("\"{}\"\n", l.replace(',', "\",\"")));
    lines.collect::<String>().into_bytes()
}

/// The header, then every data row on one line 2 (rows joined by commas).
fn one_line(text: &[u8]) -> Vec<u8> {
    let (header, rows) = text.split_at(text.iter().position(|&b| b == b'\n').unwrap() + 1);
    let joined = rows
        .trim_ascii_end()
        .iter()
        .map(|&b| if b == b'\n' { b',' } else { b });
    header.iter().copied().chain(joined).collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn parse_reporting(bytes: &[u8]) -> (Result<ParsedCsv, CsvError>, Vec<Progress>) {
    let mut reports = Vec::new();
    let parsed = parse_csv("train.csv", bytes, None, &mut |p| reports.push(p));
    (parsed, reports)
}

#[test]
fn all_quoted_train_rows_parse_as_the_plain_ones_with_progress() {
    let plain = common::csv_head("train.csv.gz", 2000);
    let wanted = parse_csv("train.csv", &plain, None, &mut |_| {}).unwrap();
    assert_eq!(wanted.rows, 2000);
    let quoted = all_quoted(&plain);
    assert!(quoted.len() > 5 * MIB, "{} bytes", quoted.len());
    let (parsed, reports) = parse_reporting(&quoted);
    assert_eq!(parsed.unwrap(), wanted);

    // The bar moves during the slow parse: bytes of the text, in order, at most ~1 MiB apart.
    assert!(
        reports
            .iter()
            .all(|p| p.phase == Phase::Parsing && p.total == quoted.len())
    );
    let done: Vec<_> = reports.iter().map(|p| p.done).collect();
    assert_eq!((done.first(), done.last()), (Some(&0), Some(&quoted.len())));
    assert!(done.len() > quoted.len() / MIB, "{done:?}");
    // A report comes after the row that passes each MiB (a header and a row are some KiB).
    assert!(
        done.windows(2)
            .all(|w| w[0] <= w[1] && w[1] - w[0] <= MIB + 32 * 1024),
        "{done:?}"
    );

    // Gzipped, the same rows and a report per MiB in both phases.
    let (parsed, reports) = parse_reporting(&gzip(&quoted));
    assert_eq!(parsed.unwrap(), wanted);
    let parsing = reports.iter().filter(|p| p.phase == Phase::Parsing).count();
    assert!(parsing > quoted.len() / MIB, "{reports:?}");
    assert!(
        reports.len() - parsing >= 2 + quoted.len() / MIB / 2,
        "{reports:?}"
    );
}

#[test]
fn all_rows_on_one_line_are_rejected_with_where_and_how_many() {
    let plain = common::csv_head("train.csv.gz", 2000);
    for text in [one_line(&plain), one_line(&all_quoted(&plain))] {
        assert!(text.len() > 3 * MIB, "{} bytes", text.len());
        let compressed = gzip(&text);
        let error = parse_csv("train.csv", &compressed, None, &mut |_| {}).unwrap_err();
        assert_eq!(
            (error.line, error.column, error.cancelled),
            (Some(2), Some(786), false)
        );
        let problem = "the row has 1570000 values; expected 785 like the header";
        assert_eq!(error.problem, problem, "{error}");
    }
}

#[test]
fn a_caller_can_cancel_in_either_phase() {
    let quoted = all_quoted(&common::csv_head("train.csv.gz", 1000));
    let compressed = gzip(&quoted);
    let cases = [
        (&quoted, Phase::Parsing),
        (&compressed, Phase::Decompressing),
        (&compressed, Phase::Parsing),
    ];
    for (bytes, phase) in cases {
        let mut reports = Vec::new();
        let error = parse_csv_cancellable("train.csv", bytes, None, &mut |p| {
            reports.push(p);
            if p.phase == phase && p.done > 0 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap_err();
        assert!(error.cancelled, "{error}");
        assert_eq!((error.line, error.column), (None, None));
        assert_eq!(
            error.to_string(),
            "train.csv: reading the file was cancelled. Nothing was loaded from it; choose the \
             file again to load it."
        );
        // It stopped at the first `Break`, well before the end.
        let last = reports.last().unwrap();
        assert_eq!(
            reports
                .iter()
                .filter(|p| p.done > 0 && p.phase == phase)
                .count(),
            1
        );
        assert!(last.phase == phase && last.done < last.total, "{reports:?}");
    }
    // A file's own errors are not cancellations.
    let error = parse_csv("train.csv", b"label\n", None, &mut |_| {}).unwrap_err();
    assert!(!error.cancelled, "{error}");
}

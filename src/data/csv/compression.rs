//! gzip input (`.csv.gz`), recognised by its magic bytes since a browser's file name proves
//! nothing, and decompressed whole before parsing: output is capped at the size limit, and the
//! size the file claims is only a hint, so a corrupt or hostile file cannot exhaust memory.

use std::io::Read;
use std::ops::ControlFlow;

use flate2::bufread::MultiGzDecoder;

use super::error::{CsvError, size_text, too_large};
use super::{PROGRESS_STEP, Phase, Progress};

pub(super) const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
/// Most the gzip ISIZE trailer is trusted for pre-sizing, as a multiple of the compressed size:
/// Kaggle's files expand ~9x, and a cut-off file's "trailer" is random (wasm memory never shrinks).
const MAX_PRESIZE_RATIO: usize = 16;

/// Decompresses gzip (one or more members), refusing output over `limit`.
pub(super) fn gunzip(
    file: &str,
    compressed: &[u8],
    limit: usize,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> Result<Vec<u8>, CsvError> {
    let total = compressed.len();
    let mut report = |done| {
        let phase = Phase::Decompressing;
        super::report(file, progress, Progress { phase, done, total })
    };
    report(0)?;

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
        if filled == text.capacity() {
            // Doubling, but never past one byte over the limit (that byte detects the overflow):
            // near 1 GiB, plain doubling would ask for 2 GiB, more than a tab may have.
            let more = filled.max(PROGRESS_STEP).min(limit + 1 - filled);
            text.try_reserve_exact(more)
                .map_err(|_| out_of_memory(file, filled))?;
        }
        let chunk = (text.capacity() - filled).min(PROGRESS_STEP);
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
            report(total - decoder.get_ref().len())?;
            next_report = text.len() + PROGRESS_STEP;
        }
    }
    report(total)?;
    Ok(text)
}

fn out_of_memory(file: &str, decompressed: usize) -> CsvError {
    let problem = format!(
        "there is not enough memory to decompress the file (after {})",
        size_text(decompressed)
    );
    too_large(file, problem)
}

#[cfg(test)]
mod tests {
    use crate::data::csv::test_support::{assert_at, gzip, parse, train_csv};
    use crate::data::csv::{Phase, Progress, parse_csv};

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
}

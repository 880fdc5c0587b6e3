//! Telling CSV text from binary data (a ZIP, an image, UTF-16) before parsing, by its first
//! 64 KiB only; past that, the general parser reports binary data where it finds it.

use super::error::{CsvError, FILE_HINT};

/// How much of the text is inspected up front to tell CSV text from binary data.
const SNIFF_BYTES: usize = 64 * 1024;

/// Rejects binary data up front, so it gets one clear message instead of a confusing header or
/// value error.
pub(super) fn check_is_text(file: &str, text: &[u8]) -> Result<(), CsvError> {
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

pub(super) fn is_binary_control(byte: u8) -> bool {
    (byte < 0x20 && !matches!(byte, b'\t' | b'\n' | b'\r' | 0x0c)) || byte == 0x7f
}

#[cfg(test)]
mod tests {
    use crate::data::csv::test_support::{assert_at, parse, train_csv};

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
}

//! The `digit-lab` binary end to end: check, train, evaluate, predict, bench.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn digit_lab(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_digit-lab"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The word after the first occurrence of `marker`.
fn after(text: &str, marker: &str) -> String {
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in {text}"))
        + marker.len();
    text[start..]
        .split(|c: char| c.is_whitespace() || c == ';')
        .next()
        .unwrap_or_default()
        .to_string()
}

fn fails_with(output: &Output, message: &str) {
    assert!(!output.status.success());
    assert!(text(output).contains(message), "{}", text(output));
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("digit-lab-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn check_summarises_a_valid_file_and_rejects_a_broken_one() {
    let dir = scratch();
    let train = common::data_dir().join("train.csv.gz");
    let out = digit_lab(&["check", train.to_str().unwrap()], &dir);
    assert!(out.status.success(), "{}", text(&out));
    let report = text(&out);
    assert!(
        report.contains("valid train.csv (labelled), 42000 rows"),
        "{report}"
    );
    let counted: usize = report
        .lines()
        .filter_map(|l| l.trim().split_once(": "))
        .filter(|(label, _)| label.len() == 1)
        .map(|(_, count)| count.trim().parse::<usize>().unwrap())
        .sum();
    assert_eq!(counted, 42_000, "{report}");

    let mut broken = common::csv_head("train.csv.gz", 5);
    let mut row = vec!["0"; 785];
    row[2] = "x"; // pixel1
    broken.extend_from_slice(format!("{}\n", row.join(",")).as_bytes());
    std::fs::write(dir.join("broken.csv"), &broken).unwrap();
    let out = digit_lab(&["check", "broken.csv"], &dir);
    assert!(!out.status.success());
    let message = text(&out);
    assert!(
        message.contains("broken.csv, line 7, column 3 (pixel1)"),
        "{message}"
    );
}

#[test]
fn train_evaluate_and_predict_write_a_model_a_report_and_a_submission() {
    let dir = scratch().join("pipeline");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("train.csv"), common::csv_head("train.csv.gz", 400)).unwrap();
    std::fs::write(dir.join("test.csv"), common::csv_head("test.csv.gz", 50)).unwrap();

    // A short `small` run writing `out`, with extra flags; returns its output.
    let train = |out: &str, epochs: &str, extra: &[&str]| {
        let mut args = vec![
            "train",
            "--train",
            "train.csv",
            "--model",
            "small",
            "--epochs",
            epochs,
            "--out",
            out,
            "--force",
        ];
        args.extend_from_slice(extra);
        let out = digit_lab(&args, &dir);
        assert!(out.status.success(), "{}", text(&out));
        out
    };
    let out = train("m.bpk", "3", &[]);
    let log = text(&out);
    assert!(log.contains("epoch   1:"), "{log}");
    assert!(log.contains("weighted avg"), "{log}");
    assert!(dir.join("m.bpk").exists());
    let trained = after(&log, "with validation accuracy ");
    assert!(
        log.contains("test-time augmentation chosen on validation: "),
        "{log}"
    );

    // `evaluate` of m.bpk on its own split, with extra flags; returns its output.
    let evaluate = |extra: &[&str]| {
        let mut args = vec!["evaluate", "--model", "m.bpk", "--train", "train.csv"];
        args.extend_from_slice(extra);
        let out = digit_lab(&args, &dir);
        assert!(out.status.success(), "{}", text(&out));
        text(&out)
    };
    // The saved weights are the best epoch's: evaluated on the split they were judged on,
    // they score exactly what training reported for that epoch.
    let report = evaluate(&[]);
    assert!(
        report.contains("validation rows (seed 42, fraction 0.1)"),
        "{report}"
    );
    assert_eq!(after(&report, ", accuracy "), trained, "{log}\n{report}");

    // A plain `--tta` predicts with what validation chose at the end of training, so it
    // scores at least the plain accuracy on those rows.
    let with_tta = evaluate(&["--tta"]);
    assert!(with_tta.contains("validation's choice)"), "{with_tta}");
    let tta_accuracy: f64 = after(&with_tta, ", accuracy ").parse().unwrap();
    let plain_accuracy: f64 = trained.parse().unwrap();
    assert!(tta_accuracy >= plain_accuracy, "{with_tta}");
    let chosen = evaluate(&["--choose-tta", "--record-tta"]);
    assert!(
        chosen.contains("TTA chosen on validation: ") && chosen.contains("recorded in m.bpk"),
        "{chosen}"
    );

    // A second member (same split, other initialisation) evaluates with the first as an
    // ensemble; a model validated on other rows is refused as a member.
    train("m2.bpk", "2", &["--member", "1"]);
    train("m3.bpk", "2", &["--seed", "7", "--schedule", "stepwise"]);
    let out = digit_lab(
        &[
            "evaluate",
            "--model",
            "m.bpk",
            "--model",
            "m2.bpk",
            "--train",
            "train.csv",
            "--tta",
            "--tta-shift",
            "1",
            "--tta-rotation",
            "5",
        ],
        &dir,
    );
    let ensemble = text(&out);
    assert!(out.status.success(), "{ensemble}");
    assert!(ensemble.contains("member m.bpk: loss "), "{ensemble}");
    assert!(ensemble.contains("member m2.bpk: loss "), "{ensemble}");
    assert!(
        ensemble.contains("ensemble of 2 members")
            && ensemble.contains("(TTA: 1 px shifts and ±5° rotations, as asked)"),
        "{ensemble}"
    );
    assert!(ensemble.contains("without TTA: loss "), "{ensemble}");
    let out = digit_lab(
        &[
            "evaluate",
            "--model",
            "m.bpk",
            "--model",
            "m3.bpk",
            "--train",
            "train.csv",
        ],
        &dir,
    );
    fails_with(&out, "m3.bpk was validated on other rows");
    let out = digit_lab(
        &[
            "evaluate",
            "--model",
            "m.bpk",
            "--train",
            "train.csv",
            "--tta",
            "--tta-shift",
            "NaN",
        ],
        &dir,
    );
    fails_with(&out, "--tta-shift NaN: must be between 0 and 14 pixels");

    let out = digit_lab(
        &[
            "predict", "--model", "m.bpk", "--model", "m2.bpk", "--test", "test.csv", "--out",
            "s.csv",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", text(&out));
    let submission = std::fs::read_to_string(dir.join("s.csv")).unwrap();
    assert!(submission.starts_with("ImageId,Label\n1,"));
    assert_eq!(submission.lines().count(), 51);

    let out = digit_lab(
        &["predict", "--model", "train.csv", "--test", "test.csv"],
        &dir,
    );
    fails_with(&out, "train.csv is not a Digit Lab model file");
}

#[test]
fn without_a_model_argument_the_bundled_model_evaluates_and_predicts() {
    let dir = scratch().join("bundled");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("train.csv"),
        common::csv_head("train.csv.gz", 2000),
    )
    .unwrap();
    std::fs::write(dir.join("test.csv"), common::csv_head("test.csv.gz", 100)).unwrap();

    let out = digit_lab(&["evaluate", "--train", "train.csv"], &dir);
    assert!(out.status.success(), "{}", text(&out));
    let report = text(&out);
    // The report's "accuracy <value> <support>" line, as scikit-learn prints it.
    let accuracy: f64 = report
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|words| words.len() == 3 && words[0] == "accuracy")
        .and_then(|words| words[1].parse().ok())
        .unwrap_or_else(|| panic!("no accuracy line in {report}"));
    assert!(
        accuracy >= 0.97,
        "bundled model accuracy {accuracy}\n{report}"
    );

    let out = digit_lab(&["predict", "--test", "test.csv", "--out", "s.csv"], &dir);
    assert!(out.status.success(), "{}", text(&out));
    let submission = std::fs::read_to_string(dir.join("s.csv")).unwrap();
    let rows: Vec<&str> = submission.lines().skip(1).collect();
    assert_eq!(rows.len(), 100);
    for (i, row) in rows.iter().enumerate() {
        let (id, label) = row.split_once(',').unwrap();
        assert_eq!(id, (i + 1).to_string());
        assert!(matches!(
            label,
            "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9"
        ));
    }
}

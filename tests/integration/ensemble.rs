//! Ensemble model files: several members in one file that load back as the same networks and
//! predict the mean of their probabilities; combinations that could not be judged fairly, or
//! that repeat a model, are refused with a message naming the files; the worker's session
//! combines files from the page and measures the ensemble on the validation split.

use crate::common;
use crate::session::{Driver, load_train};

use burn::tensor::Bytes;
use digit_lab::device;
use digit_lab::evaluation::predict::predict_ensemble;
use digit_lab::evaluation::tta::{Tta, TtaChoice};
use digit_lab::model::{DigitNet, Preset};
use digit_lab::model_file::{self, ModelFileError, ModelMeta, Precision, TrainingSummary};
use digit_lab::protocol::{Command, Failure, ModelSource, Operation, Problem, Reply};
use digit_lab::training::config::TrainConfig;

/// A tiny model file trained (as far as its record says) as `member` of the `seed` split of
/// the first 200 rows of train.csv.
fn member_file(seed: u64, member: u64, init_seed: u64) -> Vec<u8> {
    let cpu = device::cpu();
    let architecture = Preset::Tiny.architecture();
    let model = DigitNet::new(&architecture, &cpu.device, init_seed).unwrap();
    let mut config = TrainConfig {
        seed,
        member,
        ..TrainConfig::default()
    };
    config.epochs = 1;
    let summary = TrainingSummary {
        config,
        epochs_run: 1,
        best_epoch: Some(0),
        val_accuracy: Some(0.5),
        val_loss: Some(1.5),
        train_rows: 180,
        validation_rows: 20,
        seconds: 1.0,
        device: "CPU".into(),
    };
    let meta = ModelMeta::new(Some(Preset::Tiny), architecture, Some(summary));
    pollster::block_on(model_file::to_bytes(&model, &meta, Precision::F32)).unwrap()
}

fn probabilities(nets: &[DigitNet]) -> Vec<f32> {
    let cpu = device::cpu();
    let digits = common::train_digits(40);
    let rows: Vec<usize> = (0..40).collect();
    pollster::block_on(predict_ensemble(
        nets,
        &digits,
        &rows,
        &cpu.device,
        16,
        None,
        &mut |_, _| {},
    ))
    .unwrap()
}

fn combine(files: &[(&str, &Vec<u8>)]) -> Result<Vec<u8>, ModelFileError> {
    let parts: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, &b[..])).collect();
    model_file::combine(&parts)
}

#[test]
fn an_ensemble_file_holds_every_member_and_predicts_their_mean() {
    let cpu = device::cpu();
    let (a, b, c) = (
        member_file(7, 0, 1),
        member_file(7, 1, 2),
        member_file(7, 2, 3),
    );
    let load = |name: &str, bytes: &[u8]| model_file::from_bytes(name, bytes, &cpu.device).unwrap();
    let (single_a, meta_a) = load("a.bpk", &a);
    let (single_b, _) = load("b.bpk", &b);
    assert_eq!(
        (single_a.len(), meta_a.format_version),
        (1, 1),
        "single files stay format 1"
    );

    let both = combine(&[("a.bpk", &a), ("b.bpk", &b)]).unwrap();
    let (members, meta) = load("ab.bpk", &both);
    assert_eq!((members.len(), meta.member_count()), (2, 2));
    assert_eq!(meta.format_version, 2);
    assert_eq!(
        meta.members()[0],
        meta_a,
        "member 1's metadata is kept as it was"
    );
    assert_eq!(
        meta.members()[1].training.as_ref().unwrap().config.member,
        1
    );
    assert_eq!(probabilities(&members[..1]), probabilities(&single_a));
    assert_eq!(probabilities(&members[1..]), probabilities(&single_b));
    let originals = [single_a[0].clone(), single_b[0].clone()];
    assert_eq!(probabilities(&members), probabilities(&originals));
    let (one, two) = (probabilities(&single_a), probabilities(&single_b));
    let mean: Vec<f32> = one.iter().zip(&two).map(|(x, y)| (x + y) / 2.0).collect();
    let worst = mean
        .iter()
        .zip(probabilities(&members))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(worst < 1e-6, "the ensemble is the members' mean ({worst})");

    // An ensemble counts as its members; its own figures are recorded on request.
    assert_eq!(meta.val_accuracy(), None, "not measured yet");
    let three = combine(&[("ab.bpk", &both), ("c.bpk", &c)]).unwrap();
    let three = model_file::with_figures("abc.bpk", &three, 0.75, 0.5).unwrap();
    let (members, meta) = load("abc.bpk", &three);
    assert_eq!(members.len(), 3);
    assert_eq!(meta.val_accuracy(), Some(0.75));
    assert_eq!(meta.tta, None, "combining clears a member's own TTA choice");
    assert_eq!(meta.prediction_tta(), Some(Tta::default()));
    let choice = TtaChoice {
        tta: None,
        plain_accuracy: 0.75,
        accuracy: 0.75,
        rows: 20,
    };
    let chosen = model_file::with_tta_choice("abc.bpk", &three, choice).unwrap();
    let (members, meta) = load("abc.bpk", &chosen);
    assert_eq!(members.len(), 3, "the weights are kept");
    assert_eq!((meta.tta, meta.prediction_tta()), (Some(choice), None));
    let out_of_range = TtaChoice {
        accuracy: 1.5,
        ..choice
    };
    let bad = model_file::with_tta_choice("abc.bpk", &three, out_of_range).unwrap();
    let err = model_file::from_bytes("abc.bpk", &bad, &cpu.device).unwrap_err();
    assert!(err.to_string().contains("TTA choice"), "{err}");
    let err = model_file::with_figures("a.bpk", &a, 0.7, 0.5).unwrap_err();
    assert!(err.to_string().contains("a.bpk is a single model"), "{err}");
}

#[test]
fn combinations_that_cannot_be_judged_or_repeat_a_model_are_refused() {
    let a = member_file(7, 0, 1);
    let refusal = |files: &[(&str, &Vec<u8>)]| combine(files).unwrap_err().to_string();

    let message = refusal(&[("a.bpk", &a)]);
    assert!(message.contains("at least 2 models, 1 given"), "{message}");
    let other_split = member_file(8, 1, 2);
    let message = refusal(&[("a.bpk", &a), ("other.bpk", &other_split)]);
    assert!(
        message.contains("other.bpk was validated on other rows")
            && message.contains("seed 8")
            && message.contains("a.bpk (200 rows, validation fraction 0.1, seed 7)"),
        "{message}"
    );
    let again = member_file(7, 0, 5);
    let message = refusal(&[("a.bpk", &a), ("again.bpk", &again)]);
    assert!(
        message.contains("again.bpk and a.bpk were trained the same way"),
        "{message}"
    );
    let many: Vec<Vec<u8>> = (0..9).map(|m| member_file(7, m, m + 1)).collect();
    let files: Vec<(&str, &Vec<u8>)> = many.iter().map(|b| ("m.bpk", b)).collect();
    assert!(refusal(&files).contains("9 models given; an ensemble holds at most 8"));
    let message = refusal(&[("a.bpk", &a), ("notes.txt", &b"hello".to_vec())]);
    assert!(
        message.contains("notes.txt is not a Digit Lab model file"),
        "{message}"
    );
}

#[test]
fn a_tampered_ensemble_file_is_refused_with_its_name() {
    let cpu = device::cpu();
    let both = combine(&[
        ("a.bpk", &member_file(7, 0, 1)),
        ("b.bpk", &member_file(7, 1, 2)),
    ]);
    let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(both.unwrap())).unwrap();
    let json = reader.metadata()["digit-lab"].clone();
    let tensors = reader.into_tensors().unwrap();
    let write = |tensors: Vec<burn_pack::Tensor>, json: &str| {
        let writer = burn_pack::Writer::new(tensors).with_metadata("digit-lab", json);
        writer.into_bytes().unwrap().to_vec()
    };
    let renamed: Vec<_> = tensors
        .into_iter()
        .map(|t| {
            let (name, dtype, shape, id, data) = t.into_parts().unwrap();
            let name = name.replace("member2.", "member9.");
            burn_pack::Tensor::new(name, dtype, shape, id, data)
        })
        .collect();
    let bad = write(renamed, &json);
    let err = model_file::from_bytes("t.bpk", &bad, &cpu.device).unwrap_err();
    assert!(
        err.to_string().contains("t.bpk") && err.to_string().contains("member9."),
        "{err}"
    );

    let mut meta: serde_json::Value = serde_json::from_str(&json).unwrap();
    let member = meta["ensemble"]["others"][0].clone();
    for _ in 0..8 {
        meta["ensemble"]["others"]
            .as_array_mut()
            .unwrap()
            .push(member.clone());
    }
    let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bad)).unwrap();
    let bad = write(reader.into_tensors().unwrap(), &meta.to_string());
    let err = model_file::from_bytes("big.bpk", &bad, &cpu.device).unwrap_err();
    assert!(
        err.to_string().contains("an ensemble of 10 members"),
        "{err}"
    );
}

#[test]
fn the_session_combines_files_measures_the_ensemble_and_keeps_the_model_on_failure() {
    let mut driver = Driver::new();
    load_train(&mut driver, 200);
    let (a, b) = (member_file(7, 0, 1), member_file(7, 1, 2));
    let load = Command::LoadModel {
        file_name: "a.bpk".into(),
        source: ModelSource::Stored,
    };
    driver.send(load, Some(a.clone()));
    let mut payload = a.clone();
    payload.extend_from_slice(&b);
    let command = |parts: Vec<(String, usize)>| Command::CombineModels {
        file_name: "ensemble.bpk".into(),
        parts,
    };
    let parts = vec![
        ("a.bpk".to_string(), a.len()),
        ("b.bpk".to_string(), b.len()),
    ];

    let cut_short = driver.send(command(parts.clone()), Some(payload[..a.len()].to_vec()));
    assert!(matches!(
        &cut_short[..],
        [(
            Reply::Error(Failure {
                operation: Operation::CombineModels,
                problem: Problem::Input(_)
            }),
            _
        )]
    ));
    let same_twice = vec![("a.bpk".to_string(), a.len()); 2];
    let replies = driver.send(command(same_twice), Some([a.clone(), a.clone()].concat()));
    match &replies[..] {
        [(Reply::Error(failure), _)] => {
            assert!(
                failure.to_string().contains("trained the same way"),
                "{failure}"
            )
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    let replies = driver.send(command(parts), Some(payload));
    let (info, file) = replies
        .iter()
        .find_map(|(r, b)| match r {
            Reply::ModelReady(info) => Some((info, b.clone().unwrap())),
            _ => None,
        })
        .expect("the ensemble becomes current");
    assert_eq!(info.source, ModelSource::File("ensemble.bpk".into()));
    assert_eq!(info.meta.member_count(), 2);
    let accuracy = info
        .meta
        .val_accuracy()
        .expect("measured on the validation split");
    let stored = model_file::read_meta("ensemble.bpk", &file).unwrap();
    assert_eq!(
        stored.val_accuracy(),
        Some(accuracy),
        "recorded in the file"
    );
    // The ensemble's TTA was chosen on the same rows: never below its plain accuracy.
    let choice = stored.tta.expect("a TTA choice is recorded");
    assert_eq!(info.meta.tta, Some(choice));
    assert_eq!(choice.rows, 20);
    assert!(
        (choice.plain_accuracy - accuracy).abs() < 1e-9,
        "{choice:?}"
    );
    assert!(choice.accuracy >= choice.plain_accuracy, "{choice:?}");
    assert_eq!(
        choice.tta.is_none(),
        choice.accuracy == choice.plain_accuracy
    );
    match replies.last().map(|(r, _)| r) {
        Some(Reply::Insights(insights)) => assert_eq!(insights.validation_rows, 20),
        other => panic!("expected the ensemble's insights, got {other:?}"),
    }
    let drawn = driver.send(
        Command::Classify {
            pixels: common::train_digits(1).image(0).to_vec(),
        },
        None,
    );
    assert!(
        matches!(&drawn[0].0, Reply::Classification { probabilities, .. } if probabilities.len() == 10)
    );
}

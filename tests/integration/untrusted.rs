//! Nothing lost, nothing crashes: crafted model files (each one a way a real file goes wrong)
//! are refused with a message by the library, the CLI and the worker's session, whose current
//! model stays; a diverging run never becomes a model anywhere.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::tensor::Bytes;
use digit_lab::device;
use digit_lab::model::{DigitNet, Preset};
use digit_lab::model_file::{self, ModelMeta, Precision, TrainingSummary};
use digit_lab::training::config::TrainConfig;
use serde_json::{Value, json};

const METADATA_KEY: &str = "digit-lab";

/// A valid model file of the tiny preset, with a training record.
fn tiny_file() -> Vec<u8> {
    let cpu = device::cpu();
    let architecture = Preset::Tiny.architecture();
    let model = DigitNet::new(&architecture, &cpu.device, 5).unwrap();
    let summary = TrainingSummary {
        config: TrainConfig::default(),
        epochs_run: 1,
        best_epoch: Some(0),
        val_accuracy: Some(0.5),
        val_loss: Some(1.5),
        train_rows: 900,
        validation_rows: 100,
        seconds: 1.0,
        device: "CPU".into(),
    };
    let meta = ModelMeta::new(Some(Preset::Tiny), architecture, Some(summary));
    pollster::block_on(model_file::to_bytes(&model, &meta, Precision::F32)).unwrap()
}

/// The file's tensors and its metadata as JSON.
fn open(bytes: &[u8]) -> (Vec<burn_pack::Tensor>, Value) {
    let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec())).unwrap();
    let meta = serde_json::from_str(&reader.metadata()[METADATA_KEY]).unwrap();
    (reader.into_tensors().unwrap(), meta)
}

fn write(tensors: Vec<burn_pack::Tensor>, metadata: Option<String>) -> Vec<u8> {
    let mut writer = burn_pack::Writer::new(tensors);
    if let Some(metadata) = metadata {
        writer = writer.with_metadata(METADATA_KEY, &metadata);
    }
    writer.into_bytes().unwrap().to_vec()
}

/// The tiny file with its metadata edited.
fn with_meta(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let (tensors, mut meta) = open(&tiny_file());
    edit(&mut meta);
    write(tensors, Some(meta.to_string()))
}

/// The tiny file with its first weight replaced.
fn with_first_weight(value: f32) -> Vec<u8> {
    let (tensors, meta) = open(&tiny_file());
    let tensors = tensors
        .into_iter()
        .enumerate()
        .map(|(i, tensor)| {
            let (name, dtype, shape, id, bytes) = tensor.into_parts().unwrap();
            let mut bytes = bytes.to_vec();
            if i == 0 {
                bytes[..4].copy_from_slice(&value.to_le_bytes());
            }
            burn_pack::Tensor::new(name, dtype, shape, id, Bytes::from_bytes_vec(bytes))
        })
        .collect();
    write(tensors, Some(meta.to_string()))
}

/// Every crafted file, with a fragment its message must contain.
fn corpus() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let good = tiny_file();
    let mut wrong_magic = good.clone();
    wrong_magic[..4].copy_from_slice(b"ZZZZ");
    let random: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let conv = |layer: usize, field: &'static str, value: Value| {
        with_meta(move |m| m["architecture"]["layers"][layer]["Conv"][field] = value)
    };
    let (tensors, _) = open(&good);
    let small_meta = ModelMeta::new(Some(Preset::Small), Preset::Small.architecture(), None);
    vec![
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            "not a Digit Lab model file",
        ),
        ("random bytes", random, "not a Digit Lab model file"),
        ("wrong magic", wrong_magic, "not a Digit Lab model file"),
        (
            "a CSV",
            common::csv_head("train.csv.gz", 3),
            "not a Digit Lab model file",
        ),
        (
            "no metadata",
            write(tensors, None),
            "without Digit Lab metadata",
        ),
        (
            "malformed metadata",
            write(open(&good).0, Some("{\"format\": ".into())),
            "unreadable metadata",
        ),
        (
            "another format",
            with_meta(|m| m["format"] = json!("keras-h5")),
            "not a Digit Lab model file",
        ),
        (
            "too new",
            with_meta(|m| m["format_version"] = json!(99)),
            "newer Digit Lab",
        ),
        (
            "another preset's weights",
            write(
                open(&good).0,
                Some(serde_json::to_string(&small_meta).unwrap()),
            ),
            "does not match its architecture",
        ),
        ("stride 0", conv(0, "stride", json!(0)), "stride 0"),
        (
            "valid padding, stride 0",
            with_meta(|m| {
                m["architecture"]["layers"][2]["Conv"]["stride"] = json!(0);
                m["architecture"]["layers"][2]["Conv"]["padding"] = json!("Valid");
            }),
            "stride 0",
        ),
        ("kernel 0", conv(0, "kernel", json!(0)), "kernel"),
        (
            "overflowing filters",
            conv(0, "filters", json!(u64::MAX / 3)),
            "filters",
        ),
        (
            "dropout 2.0",
            with_meta(|m| {
                let layers = m["architecture"]["layers"].as_array_mut().unwrap();
                layers.insert(1, json!({"Dropout": {"rate": 2.0}}));
            }),
            "dropout rate 2",
        ),
        (
            "a dense layer of billions of units",
            with_meta(|m| {
                let layers = m["architecture"]["layers"].as_array_mut().unwrap();
                let logits = layers.pop().unwrap();
                let huge = json!({"Dense": {"units": 3_000_000_000u64, "relu": true,
                    "init": "GlorotUniform"}});
                layers.push(huge);
                layers.push(logits);
            }),
            "3000000000 units",
        ),
        (
            "huge row counts",
            with_meta(|m| m["training"]["train_rows"] = json!(u64::MAX - 5)),
            "rows",
        ),
        (
            "negative input scale",
            with_meta(|m| m["input_scale"] = json!(-1.0)),
            "input scale",
        ),
        (
            "NaN weights",
            with_first_weight(f32::NAN),
            "NaN or infinite",
        ),
        (
            "infinite weights",
            with_first_weight(f32::INFINITY),
            "NaN or infinite",
        ),
    ]
}

#[test]
fn every_crafted_model_file_is_refused_with_a_message_naming_it() {
    let cpu = device::cpu();
    assert!(model_file::from_bytes("good.bpk", &tiny_file(), &cpu.device).is_ok());
    for (name, bytes, expected) in corpus() {
        let result = std::panic::catch_unwind(|| {
            model_file::from_bytes("bad.bpk", &bytes, &cpu.device).map(|_| ())
        });
        let error = match result {
            Ok(Err(error)) => error.to_string(),
            Ok(Ok(())) => panic!("{name}: accepted"),
            Err(_) => panic!("{name}: panicked"),
        };
        assert!(error.contains("bad.bpk"), "{name}: {error}");
        assert!(error.contains(expected), "{name}: {error}");
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join(format!("digit-lab-untrusted-{}", std::process::id()))
        .join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn digit_lab(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_digit-lab"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn the_cli_refuses_every_crafted_file_with_exit_code_1() {
    let dir = scratch("corpus");
    std::fs::write(dir.join("train.csv"), common::csv_head("train.csv.gz", 50)).unwrap();
    std::fs::write(dir.join("test.csv"), common::csv_head("test.csv.gz", 20)).unwrap();
    for (i, (name, bytes, expected)) in corpus().into_iter().enumerate() {
        let file = format!("bad{i}.bpk");
        std::fs::write(dir.join(&file), &bytes).unwrap();
        let commands: [&[&str]; 2] = [
            &["evaluate", "--model", &file, "--train", "train.csv"],
            &[
                "predict", "--model", &file, "--test", "test.csv", "--out", "s.csv",
            ],
        ];
        for args in commands {
            let out = digit_lab(args, &dir);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{name} {args:?}: {stderr}");
            assert!(stderr.contains(&file), "{name} {args:?}: {stderr}");
            assert!(stderr.contains(expected), "{name} {args:?}: {stderr}");
        }
        assert!(!dir.join("s.csv").exists(), "{name}: no submission written");
    }
}

/// A recipe that diverges in its first batches: the weights overflow at once.
fn diverging(epochs: usize) -> TrainConfig {
    let mut config = Preset::Tiny.recipe();
    config.epochs = epochs;
    config.learning_rate = 1e30;
    config.augmentation = digit_lab::augment::AugmentConfig::NONE;
    config
}

/// Run the diverging recipe on 300 rows to its end: the finish and whether weights were kept.
fn run_diverging(config: TrainConfig) -> (digit_lab::training::events::FinishInfo, bool) {
    use digit_lab::training::Trainer;
    use digit_lab::training::events::TrainEvent;
    use std::sync::Arc;

    let cpu = device::cpu();
    let digits = Arc::new(common::train_digits(300));
    let split = digits.split(config.validation_fraction, 1);
    let model = DigitNet::new(&Preset::Tiny.architecture(), &cpu.device, 1).unwrap();
    let mut trainer =
        Trainer::new(model, digits, split, config, cpu.device, cpu.description).unwrap();
    let mut finish = None;
    pollster::block_on(async {
        while let Some(event) = trainer.next_event().await {
            if let TrainEvent::Finished(info) = event {
                finish = Some(info);
            }
        }
    });
    (finish.unwrap(), trainer.best_model().is_some())
}

#[test]
fn a_run_that_diverges_before_any_validated_epoch_keeps_no_weights() {
    use digit_lab::training::events::{FinishReason, TrainFailure};
    for fraction in [0.1, 0.0] {
        let mut config = diverging(2);
        config.validation_fraction = fraction;
        let (finish, kept) = run_diverging(config);
        assert_eq!(finish.reason, FinishReason::Failed, "fraction {fraction}");
        assert!(
            matches!(
                finish.failure,
                Some(TrainFailure::Diverged { epoch: 0, .. })
            ),
            "fraction {fraction}: {:?}",
            finish.failure
        );
        assert!(!kept && !finish.weights_kept, "fraction {fraction}");
        assert_eq!(finish.best_epoch, None);
    }
}

#[test]
fn weights_broken_by_an_epochs_last_step_are_not_kept() {
    use digit_lab::training::events::{FinishReason, TrainFailure};
    // One batch per epoch: the step that breaks the weights is the epoch's last, so no batch
    // loss sees it; validation (or the finiteness check without it) must.
    for fraction in [0.1, 0.0] {
        let mut config = diverging(1);
        config.batch_size = 512;
        config.validation_fraction = fraction;
        let (finish, kept) = run_diverging(config);
        assert_eq!(finish.reason, FinishReason::Failed, "fraction {fraction}");
        assert_eq!(
            finish.failure,
            Some(TrainFailure::WeightsNotFinite { epoch: 0 }),
            "fraction {fraction}"
        );
        assert!(!kept && !finish.weights_kept);
    }
}

#[test]
fn a_diverging_run_never_replaces_the_sessions_model() {
    use digit_lab::protocol::{Command, DataRole, Failure, ModelSource, Operation, Problem, Reply};
    use digit_lab::session::Session;
    use digit_lab::training::events::TrainFailure;

    let mut session = Session::new();
    let send = |session: &mut Session, command: Command, bytes: Option<Vec<u8>>| {
        let mut out = Vec::new();
        pollster::block_on(session.handle(command, bytes, &mut |r, b| out.push((r, b))));
        out
    };
    send(&mut session, Command::Init { force_cpu: true }, None);
    let good = tiny_file();
    let loaded = send(
        &mut session,
        Command::LoadModel {
            file_name: "good.bpk".into(),
            source: ModelSource::File("good.bpk".into()),
        },
        Some(good.clone()),
    );
    assert!(
        matches!(&loaded[..], [(Reply::ModelReady(_), Some(file))] if *file == good),
        "the current model's file is sent back byte for byte: {:?}",
        loaded.iter().map(|(r, _)| r).collect::<Vec<_>>()
    );
    let pixels = common::train_digits(1).image(0).to_vec();
    let classify = |session: &mut Session| {
        let mut out = Vec::new();
        pollster::block_on(session.handle(
            Command::Classify {
                pixels: pixels.clone(),
            },
            None,
            &mut |r, b| out.push((r, b)),
        ));
        match out.remove(0).0 {
            Reply::Classification { probabilities, .. } => probabilities,
            other => panic!("{other:?}"),
        }
    };
    let before = classify(&mut session);

    // Bad files: refused, and the current model stays.
    for (name, bytes, _) in corpus() {
        let replies = send(
            &mut session,
            Command::LoadModel {
                file_name: "bad.bpk".into(),
                source: ModelSource::File("bad.bpk".into()),
            },
            Some(bytes),
        );
        assert!(
            matches!(
                &replies[..],
                [(
                    Reply::Error(Failure {
                        operation: Operation::LoadModel,
                        problem: Problem::ModelFile(_)
                    }),
                    None
                )]
            ),
            "{name}: {replies:?}"
        );
    }
    assert_eq!(classify(&mut session), before);

    // A diverging run: no checkpoint, no new model, the run's own reason.
    send(
        &mut session,
        Command::LoadCsv {
            role: DataRole::Train,
            file_name: "train.csv".into(),
        },
        Some(common::csv_head("train.csv.gz", 300)),
    );
    send(
        &mut session,
        Command::Train {
            preset: Preset::Tiny,
            config: diverging(2),
        },
        None,
    );
    let mut replies = Vec::new();
    while session.wants_training_step() {
        pollster::block_on(session.train_step(&mut |r, b| replies.push((r, b))));
    }
    assert!(
        !replies.iter().any(|(r, _)| matches!(
            r,
            Reply::ModelReady(_) | Reply::Checkpoint { .. } | Reply::RunKept { .. }
        )),
        "{replies:?}"
    );
    assert!(replies.iter().any(|(r, _)| matches!(
        r,
        Reply::Error(Failure {
            operation: Operation::Train,
            problem: Problem::Train(TrainFailure::Diverged { .. })
        })
    )));
    assert_eq!(
        classify(&mut session),
        before,
        "the current model is the same"
    );
}

#[test]
fn a_run_far_worse_than_the_current_model_is_offered_not_imposed() {
    use digit_lab::protocol::{Command, DataRole, ModelSource, Reply};
    use digit_lab::session::Session;

    let mut session = Session::new();
    let mut replies = Vec::new();
    let mut run = |session: &mut Session, command, bytes| {
        pollster::block_on(session.handle(command, bytes, &mut |r, b| replies.push((r, b))));
    };
    run(&mut session, Command::Init { force_cpu: true }, None);
    // A current model that claims 99.9% validation accuracy.
    let claimed = with_meta(|m| m["training"]["val_accuracy"] = json!(0.999));
    let source = ModelSource::File("claimed.bpk".into());
    let file_name = "claimed.bpk".to_string();
    run(
        &mut session,
        Command::LoadModel { file_name, source },
        Some(claimed),
    );
    let train = common::csv_head("train.csv.gz", 200);
    let role = DataRole::Train;
    let file_name = "train.csv".to_string();
    run(
        &mut session,
        Command::LoadCsv { role, file_name },
        Some(train),
    );
    let mut config = Preset::Tiny.recipe();
    config.epochs = 1;
    let preset = Preset::Tiny;
    run(&mut session, Command::Train { preset, config }, None);
    let mut replies = Vec::new();
    while session.wants_training_step() {
        pollster::block_on(session.train_step(&mut |r, b| replies.push((r, b))));
    }
    assert!(
        !replies
            .iter()
            .any(|(r, _)| matches!(r, Reply::ModelReady(_)))
    );
    let kept = replies.iter().find_map(|(r, b)| match r {
        Reply::RunKept {
            model,
            current_val_accuracy,
        } => Some((model, *current_val_accuracy, b.clone())),
        _ => None,
    });
    let (model, current, file) = kept.expect("the run is offered");
    assert_eq!(current, 0.999);
    let accuracy = model.meta.training.as_ref().unwrap().val_accuracy.unwrap();
    assert!(accuracy < 0.949, "1 epoch of tiny on 180 rows: {accuracy}");
    let cpu = device::cpu();
    let (_, meta) = model_file::from_bytes("kept.bpk", &file.unwrap(), &cpu.device).unwrap();
    assert_eq!(meta, model.meta, "its file is the run's best weights");
}

#[test]
fn train_never_overwrites_a_model_without_force_and_a_failed_run_writes_nothing() {
    let dir = scratch("overwrite");
    std::fs::write(dir.join("train.csv"), common::csv_head("train.csv.gz", 300)).unwrap();
    let good = tiny_file();
    std::fs::write(dir.join("good.bpk"), &good).unwrap();
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--train",
            "train.csv",
            "--model",
            "tiny",
            "--epochs",
            "2",
            "--out",
            "good.bpk",
        ];
        args.extend_from_slice(extra);
        digit_lab(&args, &dir)
    };
    let out = train(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("good.bpk exists; pass --force"), "{stderr}");
    assert_eq!(std::fs::read(dir.join("good.bpk")).unwrap(), good);

    let out = train(&["--force", "--lr", "1e30"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("diverged"), "{stderr}");
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert_eq!(std::fs::read(dir.join("good.bpk")).unwrap(), good);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_during_train_finishes_the_batch_saves_the_best_epoch_and_says_so() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = scratch("interrupt");
    std::fs::write(dir.join("train.csv"), common::csv_head("train.csv.gz", 400)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_digit-lab"))
        .args([
            "train",
            "--train",
            "train.csv",
            "--model",
            "tiny",
            "--epochs",
            "500",
            "--out",
            "m.bpk",
        ])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut log = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let first_epoch = line.starts_with("epoch   1:");
        log.push(line);
        if first_epoch {
            break;
        }
    }
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    log.extend(lines.map(|l| l.unwrap()));
    let status = child.wait().unwrap();
    let log = log.join("\n");
    assert_eq!(status.code(), Some(130), "{log}");
    assert!(log.contains("interrupted by Ctrl-C"), "{log}");
    let cpu = device::cpu();
    let bytes = std::fs::read(dir.join("m.bpk")).unwrap();
    let (_, meta) = model_file::from_bytes("m.bpk", &bytes, &cpu.device).unwrap();
    let training = meta.training.unwrap();
    assert!(training.best_epoch.is_some(), "{log}");
    assert!(training.epochs_run < 500, "{log}");
}

//! Training, evaluation, model files and submissions on real rows, on Burn's CPU backend.

use crate::common;

use std::sync::Arc;

use digit_lab::augment::AugmentConfig;
use digit_lab::device;
use digit_lab::evaluation::metrics::loss_and_accuracy;
use digit_lab::evaluation::predict::{Tta, argmax_rows, predict_ensemble, predict_probabilities};
use digit_lab::model::{DigitNet, Preset};
use digit_lab::model_file::{self, ModelMeta, Precision};
use digit_lab::submission::submission_csv;
use digit_lab::training::Trainer;
use digit_lab::training::events::{EpochSummary, FinishReason, TrainEvent};
use futures::StreamExt;

fn run_to_end(trainer: &mut Trainer) -> Vec<TrainEvent> {
    pollster::block_on(trainer.events().collect::<Vec<_>>())
}

fn epochs(events: &[TrainEvent]) -> Vec<EpochSummary> {
    events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Epoch(summary) => Some(summary.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn short_run_on_2000_rows_learns_well_beyond_chance() {
    let digits = Arc::new(common::train_digits(2000));
    let mut config = Preset::Small.recipe();
    config.epochs = 3;
    config.early_stopping = None;
    let split = digits.split(config.validation_fraction, config.seed);
    assert!((195..=205).contains(&split.validation.len()));
    let per_epoch = split.train.len().div_ceil(32);
    let cpu = device::cpu();
    let model = DigitNet::new(&Preset::Small.architecture(), &cpu.device, config.seed).unwrap();
    let mut trainer =
        Trainer::new(model, digits, split, config, cpu.device, cpu.description).unwrap();
    let events = run_to_end(&mut trainer);

    let batches: Vec<f64> = events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Batch(b) => Some(b.loss),
            _ => None,
        })
        .collect();
    // Every epoch covers the training rows in batches of 32, the last one partial.
    assert_eq!(batches.len(), 3 * per_epoch);
    let early: f64 = batches[..10].iter().sum::<f64>() / 10.0;
    let late: f64 = batches[batches.len() - 10..].iter().sum::<f64>() / 10.0;
    assert!(late < early * 0.5, "loss {early:.3} -> {late:.3}");

    let epochs = epochs(&events);
    assert_eq!(epochs.len(), 3);
    assert!(epochs[2].train_loss < epochs[0].train_loss);
    let best = epochs
        .iter()
        .filter_map(|e| e.val_accuracy)
        .fold(0.0, f64::max);
    assert!(best > 0.85, "validation accuracy {best} (chance is 0.1)");

    let TrainEvent::Finished(finish) = events.last().unwrap() else {
        panic!("the stream ends with Finished");
    };
    assert_eq!(finish.reason, FinishReason::Completed);
    // This preset's recipe (notebook 001) checkpoints on the lowest validation loss.
    let lowest_loss = (0..3)
        .min_by(|&a, &b| {
            epochs[a]
                .val_loss
                .unwrap()
                .total_cmp(&epochs[b].val_loss.unwrap())
        })
        .unwrap();
    assert_eq!(finish.best_epoch, Some(lowest_loss));

    // The weights kept are that epoch's: they score its validation loss and accuracy again.
    let best = trainer.best_model().expect("validated epochs keep weights");
    let split = trainer.split().clone();
    let probabilities = pollster::block_on(predict_probabilities(
        &best,
        &common::train_digits(2000),
        &split.validation,
        &device::cpu().device,
        100,
        None,
        &mut |_, _| {},
    ))
    .unwrap();
    let truth = common::train_digits(2000);
    let labels: Vec<u8> = split
        .validation
        .iter()
        .map(|&r| truth.label(r).unwrap())
        .collect();
    let (loss, accuracy) = loss_and_accuracy(&probabilities, &labels);
    let recorded = &epochs[lowest_loss];
    assert!(
        (loss - recorded.val_loss.unwrap()).abs() < 1e-5,
        "{loss} vs {recorded:?}"
    );
    assert_eq!(Some(accuracy), recorded.val_accuracy);
}

#[test]
fn cancel_stops_between_batches_and_keeps_no_unvalidated_weights() {
    let digits = Arc::new(common::train_digits(300));
    let mut config = Preset::Small.recipe();
    config.augmentation = AugmentConfig::NONE;
    let split = digits.split(0.1, 1);
    let cpu = device::cpu();
    let model = DigitNet::new(&Preset::Small.architecture(), &cpu.device, 1).unwrap();
    let mut trainer =
        Trainer::new(model, digits, split, config, cpu.device, cpu.description).unwrap();
    let cancel = trainer.cancel_handle();
    let mut seen = Vec::new();
    pollster::block_on(async {
        while let Some(event) = trainer.next_event().await {
            if matches!(event, TrainEvent::Batch(ref b) if b.batch == 2) {
                cancel.cancel();
            }
            seen.push(event);
        }
    });
    let batches = seen
        .iter()
        .filter(|e| matches!(e, TrainEvent::Batch(_)))
        .count();
    assert_eq!(batches, 3);
    match seen.last() {
        Some(TrainEvent::Finished(f)) => {
            assert_eq!(f.reason, FinishReason::Cancelled);
            assert!(!f.weights_kept, "stopped before the first epoch ended");
        }
        other => panic!("expected Finished, got {other:?}"),
    }
    assert!(trainer.best_model().is_none());
}

#[test]
fn model_files_round_trip_to_identical_predictions() {
    let cpu = device::cpu();
    let digits = common::train_digits(64);
    let rows: Vec<usize> = (0..64).collect();
    for preset in [Preset::DigitLab, Preset::BnDense] {
        let model = DigitNet::new(&preset.architecture(), &cpu.device, 9).unwrap();
        let meta = ModelMeta::new(Some(preset), preset.architecture(), None);
        let bytes =
            pollster::block_on(model_file::to_bytes(&model, &meta, Precision::F32)).unwrap();
        let (mut loaded, loaded_meta) =
            model_file::from_bytes("m.bpk", &bytes, &cpu.device).unwrap();
        assert_eq!(loaded_meta, meta);
        assert_eq!(loaded.len(), 1, "a single model is one member");
        let loaded = loaded.remove(0);
        let predict = |m: &DigitNet| {
            pollster::block_on(predict_probabilities(
                m,
                &digits,
                &rows,
                &cpu.device,
                32,
                None,
                &mut |_, _| {},
            ))
            .unwrap()
        };
        assert_eq!(predict(&model), predict(&loaded), "{preset}");

        let half = pollster::block_on(model_file::to_bytes(&model, &meta, Precision::F16)).unwrap();
        assert!(
            half.len() < bytes.len() * 6 / 10,
            "f16 file is about half the size"
        );
        let (loaded, _) = model_file::from_bytes("m.bpk", &half, &cpu.device).unwrap();
        let (a, b) = (predict(&model), predict(&loaded[0]));
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(worst < 0.01, "f16 weights change probabilities by {worst}");
    }
}

#[test]
fn model_file_errors_are_clear() {
    let cpu = device::cpu();
    let err = model_file::from_bytes("notes.txt", b"hello", &cpu.device).unwrap_err();
    assert!(
        err.to_string()
            .contains("notes.txt is not a Digit Lab model file"),
        "{err}"
    );
    let err = model_file::from_bytes("empty.bpk", b"", &cpu.device).unwrap_err();
    assert!(err.to_string().contains("empty.bpk"), "{err}");
}

#[test]
fn submission_has_kaggle_format_for_a_test_slice() {
    let cpu = device::cpu();
    let test = common::test_digits(250);
    let model = DigitNet::new(&Preset::Small.architecture(), &cpu.device, 3).unwrap();
    let rows: Vec<usize> = (0..test.len()).collect();
    let probabilities = pollster::block_on(predict_probabilities(
        &model,
        &test,
        &rows,
        &cpu.device,
        100,
        None,
        &mut |_, _| {},
    ))
    .unwrap();
    let csv = submission_csv(&argmax_rows(&probabilities));
    let lines: Vec<&str> = csv.split('\n').collect();
    assert_eq!(lines[0], "ImageId,Label");
    assert_eq!(
        lines.len(),
        250 + 2,
        "header, 250 rows, and the final newline"
    );
    assert_eq!(lines[251], "");
    for (i, line) in lines[1..251].iter().enumerate() {
        let (id, label) = line.split_once(',').unwrap();
        assert_eq!(id, (i + 1).to_string());
        assert!(label.len() == 1 && label.as_bytes()[0].is_ascii_digit());
    }
    assert!(!csv.contains('\r'));
}

#[test]
fn an_ensemble_predicts_the_mean_of_its_members_and_tta_adds_fixed_variants() {
    let cpu = device::cpu();
    let digits = common::test_digits(30);
    let rows: Vec<usize> = (0..digits.len()).collect();
    let members: Vec<DigitNet> = [3, 4]
        .iter()
        .map(|&seed| DigitNet::new(&Preset::Small.architecture(), &cpu.device, seed).unwrap())
        .collect();
    let predict = |members: &[DigitNet], tta: Option<&Tta>| {
        pollster::block_on(predict_ensemble(
            members,
            &digits,
            &rows,
            &cpu.device,
            16,
            tta,
            &mut |_, _| {},
        ))
        .unwrap()
    };
    let each: Vec<Vec<f32>> = members
        .iter()
        .map(|m| predict(std::slice::from_ref(m), None))
        .collect();
    assert_ne!(each[0], each[1], "two initialisations, two answers");
    let together = predict(&members, None);
    for (i, p) in together.iter().enumerate() {
        let mean = (each[0][i] + each[1][i]) / 2.0;
        assert!((p - mean).abs() < 1e-5, "{i}: {p} vs {mean}");
    }

    // No variants is no TTA; shifts and rotations change the answer but stay distributions.
    let none = Tta {
        shift_pixels: 0.0,
        rotation_degrees: 0.0,
    };
    assert!(none.variants().is_empty());
    assert_eq!(predict(&members[..1], Some(&none)), each[0]);
    let tta = Tta {
        shift_pixels: 1.0,
        rotation_degrees: 8.0,
    };
    assert_eq!(tta.variants().len(), 6);
    let augmented = predict(&members[..1], Some(&tta));
    assert_ne!(augmented, each[0]);
    for row in augmented.chunks(10) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }
    assert!(
        pollster::block_on(predict_ensemble(
            &[],
            &digits,
            &rows,
            &cpu.device,
            16,
            None,
            &mut |_, _| {},
        ))
        .is_err()
    );
}

#[test]
fn one_cycle_warms_up_and_anneals_over_the_planned_batches() {
    let digits = Arc::new(common::train_digits(400));
    let mut config = Preset::Tiny.recipe();
    config.epochs = 2;
    let split = digits.split(config.validation_fraction, config.seed);
    let cpu = device::cpu();
    let model = DigitNet::new(&Preset::Tiny.architecture(), &cpu.device, 1).unwrap();
    let peak = config.learning_rate;
    let mut trainer =
        Trainer::new(model, digits, split, config, cpu.device, cpu.description).unwrap();
    let events = run_to_end(&mut trainer);
    let rates: Vec<f64> = events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Batch(b) => Some(b.learning_rate),
            _ => None,
        })
        .collect();
    assert!((rates[0] - 0.1 * peak).abs() < 1e-12, "{rates:?}");
    assert!(
        (rates[rates.len() - 1] - 1e-3 * peak).abs() < 1e-12,
        "{rates:?}"
    );
    let top = rates.iter().cloned().fold(0.0, f64::max);
    assert!(top > 0.99 * peak, "{rates:?}");
    // The epoch table shows the rate of each epoch's last batch.
    let last_of_epoch: Vec<f64> = epochs(&events).iter().map(|e| e.learning_rate).collect();
    let per_epoch = rates.len() / 2;
    assert_eq!(
        last_of_epoch,
        [rates[per_epoch - 1], rates[rates.len() - 1]]
    );
}

use super::*;
use digit_lab::training::events::{FinishReason, TrainFailure};

fn start(device: &str) -> Reply {
    Reply::Train(TrainEvent::Started(StartInfo {
        device: device.into(),
        train_rows: 4501,
        validation_rows: 499,
        batches_per_epoch: 71,
        epochs: 3,
        parameters: 1000,
    }))
}

fn epoch(epoch: usize, val_accuracy: f64, seconds: f64) -> Reply {
    Reply::Train(TrainEvent::Epoch(EpochSummary {
        epoch,
        train_loss: 1.0 / (epoch + 1) as f64,
        train_accuracy: 0.8,
        val_loss: Some(0.5),
        val_accuracy: Some(val_accuracy),
        learning_rate: 1e-3,
        seconds,
        images_per_second: 100.0,
    }))
}

fn finished(best: Option<f64>, seconds: f64, failure: Option<TrainFailure>) -> Reply {
    Reply::Train(TrainEvent::Finished(FinishInfo {
        reason: if failure.is_some() {
            FinishReason::Failed
        } else {
            FinishReason::Completed
        },
        failure,
        epochs_run: 2,
        best_epoch: best.map(|_| 1),
        best_val_accuracy: best,
        best_val_loss: None,
        weights_kept: best.is_some(),
        seconds,
    }))
}

fn planned(preset: Preset) -> PlannedRun {
    PlannedRun {
        preset,
        config: preset.recipe(),
        data: "train.csv".into(),
    }
}

/// A whole run: planned, started, `accuracies` epochs of a second each, finished.
fn run(history: &mut HistoryState, id: &str, preset: Preset, accuracies: &[f64], now: f64) {
    history.planned(planned(preset));
    assert!(history.observe(&start("CPU"), Some(id), now).is_some());
    for (i, &a) in accuracies.iter().enumerate() {
        history.observe(&epoch(i, a, 1.0), Some(id), now);
    }
    let best = accuracies.iter().copied().max_by(f64::total_cmp);
    history.observe(
        &finished(best, accuracies.len() as f64 + 0.5, None),
        Some(id),
        now,
    );
}

#[test]
fn a_run_is_recorded_from_its_recipe_to_its_finish() {
    let mut history = HistoryState::new();
    history.planned(planned(Preset::Small));
    let first = history
        .observe(&start("GPU"), Some("run-1"), 5000.0)
        .unwrap();
    assert_eq!(first.number, 1);
    assert_eq!(first.config, Preset::Small.recipe());
    assert_eq!((first.device.as_str(), first.train_rows), ("GPU", 4501));
    assert_eq!(history.active.as_deref(), Some("run-1"));
    assert_eq!(first.outcome(true), "running");

    let written = history.observe(&epoch(0, 0.9, 2.0), None, 0.0).unwrap();
    assert_eq!(written.epochs.len(), 1);
    assert_eq!(written.best_accuracy(), Some(0.9));
    assert_eq!(written.seconds(), 2.0);
    assert_eq!(written.curve(HistoryMetric::ValAccuracy), vec![(1.0, 0.9)]);
    assert_eq!(written.curve(HistoryMetric::TrainLoss), vec![(1.0, 1.0)]);

    let done = history.observe(&finished(Some(0.95), 7.0, None), None, 0.0);
    let done = done.unwrap();
    assert_eq!(done.best_accuracy(), Some(0.95), "the finish's figure wins");
    assert_eq!(done.seconds(), 7.0);
    assert_eq!(done.outcome(false), "Completed");
    assert_eq!(history.active, None);
    assert_eq!(history.records, vec![done]);
    assert_eq!(
        history.observe(&epoch(1, 0.5, 1.0), None, 0.0),
        None,
        "no run in progress: nothing to add to"
    );
}

#[test]
fn a_start_without_a_plan_or_a_model_id_records_nothing() {
    let mut history = HistoryState::new();
    assert_eq!(history.observe(&start("CPU"), Some("run-1"), 0.0), None);
    history.planned(planned(Preset::Tiny));
    assert_eq!(history.observe(&start("CPU"), None, 0.0), None);
    assert!(history.records.is_empty());
}

#[test]
fn a_crashed_run_stays_as_interrupted_and_failures_are_named() {
    let mut history = HistoryState::new();
    history.planned(planned(Preset::Tiny));
    history.observe(&start("CPU"), Some("run-1"), 0.0);
    history.observe(&epoch(0, 0.5, 1.0), None, 0.0);
    let crash = Reply::WorkerCrashed {
        message: "unreachable".into(),
    };
    assert_eq!(history.observe(&crash, None, 0.0), None);
    assert_eq!(history.active, None);
    assert!(history.records[0].outcome(false).starts_with("interrupted"));

    history.planned(planned(Preset::Tiny));
    history.observe(&start("CPU"), Some("run-2"), 1.0);
    let diverged = TrainFailure::Diverged {
        epoch: 0,
        batch: 3,
        loss: f64::NAN,
    };
    let failed = history.observe(&finished(None, 1.0, Some(diverged)), None, 0.0);
    let outcome = failed.unwrap().outcome(false);
    assert!(outcome.starts_with("Failed: "), "{outcome}");
    assert!(outcome.contains("learning rate"), "{outcome}");
    assert_eq!(history.records[1].number, 2);
}

#[test]
fn the_table_sorts_by_any_column_both_ways() {
    let mut history = HistoryState::new();
    run(&mut history, "run-a", Preset::Small, &[0.90, 0.97], 1000.0);
    run(&mut history, "run-b", Preset::DigitLab, &[0.99], 2000.0);
    run(
        &mut history,
        "run-c",
        Preset::Tiny,
        &[0.80, 0.85, 0.88],
        3000.0,
    );
    let order = |h: &HistoryState| -> Vec<u32> { h.sorted().iter().map(|r| r.number).collect() };
    assert_eq!(order(&history), vec![3, 2, 1], "newest first");
    history.sort_by(SortKey::Started);
    assert_eq!(order(&history), vec![1, 2, 3], "the same column flips");
    history.sort_by(SortKey::Accuracy);
    assert_eq!(
        order(&history),
        vec![2, 1, 3],
        "a new column sorts descending"
    );
    history.sort_by(SortKey::Epochs);
    assert_eq!(order(&history), vec![3, 1, 2]);
    history.sort_by(SortKey::Duration);
    history.sort_by(SortKey::Duration);
    assert_eq!(order(&history), vec![2, 1, 3], "shortest first");
    history.sort_by(SortKey::Model);
    let models: Vec<Preset> = history.sorted().iter().map(|r| r.preset).collect();
    let mut by_id = models.clone();
    by_id.sort_by(|a, b| b.id().cmp(a.id()));
    assert_eq!(models, by_id);

    // A run with no validation figure counts as the lowest.
    history.planned(planned(Preset::Tiny));
    history.observe(&start("CPU"), Some("run-d"), 4000.0);
    history.sort_by(SortKey::Accuracy);
    assert_eq!(order(&history), vec![2, 1, 3, 4]);
}

#[test]
fn runs_are_ticked_for_the_overlay_and_deleted_except_the_running_one() {
    let mut history = HistoryState::new();
    for i in 0..MAX_OVERLAID + 1 {
        run(
            &mut history,
            &format!("run-{i}"),
            Preset::Tiny,
            &[0.5],
            i as f64,
        );
    }
    assert!(history.toggle_selected("run-2"));
    assert!(history.toggle_selected("run-0"));
    let labels: Vec<String> = history.overlaid().iter().map(|r| r.label()).collect();
    assert_eq!(
        labels,
        ["run 3 · tiny", "run 1 · tiny"],
        "in the order ticked"
    );
    assert!(history.toggle_selected("run-2"), "a second tick unticks");
    assert!(!history.is_selected("run-2"));
    assert!(!history.toggle_selected("no-such-run"));
    for i in 1..MAX_OVERLAID {
        assert!(history.toggle_selected(&format!("run-{i}")));
    }
    assert!(
        !history.toggle_selected(&format!("run-{MAX_OVERLAID}")),
        "full"
    );

    assert!(history.delete("run-0"));
    assert!(!history.is_selected("run-0"));
    assert!(!history.delete("run-0"), "already gone");
    history.planned(planned(Preset::Tiny));
    history.observe(&start("CPU"), Some("run-new"), 99.0);
    assert!(!history.delete("run-new"), "the run in progress stays");
}

#[test]
fn what_storage_held_is_listed_without_dangling_ticks_and_reads_back() {
    let mut first = HistoryState::new();
    run(&mut first, "run-a", Preset::Small, &[0.9], 1.0);
    let record = first.records[0].clone();
    let json = serde_json::to_string(&record).unwrap();
    let read: RunRecord = serde_json::from_str(&json).unwrap();
    assert_eq!(read, record);

    let mut page = HistoryState::new();
    let view = HistoryView {
        selected: vec!["run-a".into(), "run-gone".into()],
        metric: HistoryMetric::ValLoss,
    };
    page.listed(vec![read], view);
    assert_eq!(page.view.selected, vec!["run-a".to_string()]);
    assert_eq!(page.view.metric, HistoryMetric::ValLoss);
    // New runs number on from the highest kept.
    run(&mut page, "run-b", Preset::Small, &[0.9], 2.0);
    assert_eq!(page.records[1].number, 2);
    for metric in HistoryMetric::ALL {
        assert_eq!(HistoryMetric::from_id(metric.id()), Some(metric));
    }
}

use super::*;
use digit_lab::model::Preset;
use digit_lab::model_file::{ModelFileError, ModelMeta, TrainingSummary};
use digit_lab::training::config::TrainConfig;

fn info(source: ModelSource, val_accuracy: Option<f64>) -> Box<ModelInfo> {
    let architecture = Preset::Tiny.architecture();
    let training = val_accuracy.map(|a| TrainingSummary {
        config: TrainConfig::default(),
        epochs_run: 1,
        best_epoch: Some(0),
        val_accuracy: Some(a),
        val_loss: Some(0.5),
        train_rows: 900,
        validation_rows: 100,
        seconds: 3.0,
        device: "CPU".into(),
    });
    Box::new(ModelInfo {
        source,
        meta: ModelMeta::new(Some(Preset::Tiny), architecture.clone(), training),
        layers: Vec::new(),
        parameters: architecture.param_count(),
    })
}

fn checkpoint(epoch: usize, accuracy: f64, bytes: &[u8]) -> LibraryEvent {
    LibraryEvent::Checkpoint {
        file_name: "tiny-checkpoint.bpk".into(),
        epoch,
        val_accuracy: Some(accuracy),
        bytes: bytes.to_vec(),
    }
}

fn ready(source: ModelSource, bytes: &[u8]) -> LibraryEvent {
    LibraryEvent::Ready {
        info: info(source, Some(0.9)),
        bytes: Some(bytes.to_vec()),
    }
}

fn saved(ops: &[Op]) -> Vec<(String, Option<Vec<u8>>, bool)> {
    ops.iter()
        .filter_map(|op| match op {
            Op::Save {
                entry,
                bytes,
                make_current,
            } => Some((
                entry.id.clone(),
                bytes.as_ref().map(|b| b.to_vec()),
                *make_current,
            )),
            _ => None,
        })
        .collect()
}

fn model_file_problem() -> Problem {
    Problem::ModelFile(ModelFileError::NotAModel(
        "m.bpk".into(),
        "not a Burn record".into(),
    ))
}

#[test]
fn each_run_has_one_entry_its_checkpoints_update_and_the_next_run_gets_its_own() {
    let mut library = LibraryState::new(7);
    assert!(library.handle(LibraryEvent::RunStarted, 1000.0).is_empty());
    let first = saved(&library.handle(checkpoint(0, 0.5, &[1]), 2000.0));
    let second = saved(&library.handle(checkpoint(1, 0.6, &[2]), 3000.0));
    assert_eq!(first[0].0, second[0].0, "one entry per run");
    assert_eq!(second[0].1, Some(vec![2]));
    assert!(!second[0].2, "a checkpoint is not the current model");
    let entry = &library.entries[0];
    assert_eq!(
        (entry.kind, entry.preset.as_deref()),
        (EntryKind::Run, Some("tiny"))
    );
    assert_eq!((entry.val_accuracy, entry.epoch), (Some(0.6), Some(1)));
    assert_eq!((entry.name.as_str(), entry.created), ("tiny run 1", 1000.0));
    assert_eq!(library.pointer, None, "checkpoints never move the pointer");

    library.handle(LibraryEvent::RunFinished, 3500.0);
    library.handle(LibraryEvent::RunStarted, 4000.0);
    let next = saved(&library.handle(checkpoint(0, 0.4, &[3]), 5000.0));
    assert_ne!(next[0].0, first[0].0);
    assert_eq!(
        library.entries.len(),
        2,
        "the previous run's model is still there"
    );
    assert_eq!(library.entries[0].name, "tiny run 2");
    assert_eq!(library.entries[1].val_accuracy, Some(0.6));
}

#[test]
fn a_finished_run_becomes_current_with_its_exact_file() {
    let mut library = LibraryState::new(1);
    library.handle(LibraryEvent::RunStarted, 1000.0);
    library.handle(checkpoint(0, 0.5, &[1]), 2000.0);
    let ops = library.handle(ready(ModelSource::Trained, &[9, 9]), 3000.0);
    let run = library.run.clone().unwrap();
    assert_eq!(saved(&ops), vec![(run.clone(), Some(vec![9, 9]), true)]);
    assert_eq!(library.pointer.as_ref(), Some(&run));
    let current = library.current.as_ref().unwrap();
    assert_eq!(current.entry.as_ref(), Some(&run));
    assert_eq!(&*current.bytes, &[9, 9]);
    assert_eq!(current.file_name, "tiny-run-1.bpk");
    assert_eq!(
        library.entries[0].val_accuracy,
        Some(0.9),
        "the final record's accuracy"
    );
}

#[test]
fn a_loaded_file_becomes_an_entry_only_once_the_worker_accepted_it() {
    let mut library = LibraryState::new(1);
    library.sending(Load::Bundled);
    library.handle(ready(ModelSource::Bundled, &[5]), 1000.0);
    assert_eq!(
        library.current.as_ref().unwrap().file_name,
        "digit-lab-tiny.bpk"
    );

    library.sending(Load::File("bad.bpk".into()));
    let refused = library.handle(LibraryEvent::LoadFailed(model_file_problem()), 1500.0);
    assert!(refused.is_empty(), "nothing written, nothing repointed");
    assert!(library.entries.is_empty());
    assert_eq!(&*library.current.as_ref().unwrap().bytes, &[5]);

    let source = ModelSource::File("mine.bpk".into());
    library.sending(Load::File("mine.bpk".into()));
    assert_eq!(Load::File("mine.bpk".into()).source(), source);
    let ops = library.handle(ready(source, &[7, 8]), 2000.0);
    let id = library.entries[0].id.clone();
    assert!(id.starts_with("file-2000-"));
    assert_eq!(saved(&ops), vec![(id.clone(), Some(vec![7, 8]), true)]);
    let current = library.current.as_ref().unwrap();
    assert_eq!(
        (current.file_name.as_str(), &*current.bytes),
        ("mine.bpk", &[7u8, 8][..])
    );
    assert_eq!(library.pointer, Some(id));
    assert!(!library.loading());
}

#[test]
fn a_stored_model_that_fails_at_start_up_is_quarantined_and_the_bundled_one_loaded() {
    let mut library = LibraryState::new(1);
    let entry = legacy_entry("digit-lab-tiny.bpk", 3, 500.0, 1);
    library.listed(vec![entry.clone()], Some(entry.id.clone()));
    assert_eq!(LibraryState::default().startup_entry(), None);
    let start = library.startup_entry().unwrap();
    assert_eq!(start.id, entry.id);
    library.sending(Load::Startup(start.id.clone()));
    let ops = library.handle(LibraryEvent::LoadFailed(model_file_problem()), 1000.0);
    assert_eq!(saved(&ops), vec![(entry.id.clone(), None, false)]);
    assert!(
        library.entries[0]
            .broken
            .as_ref()
            .unwrap()
            .contains("not a Burn record")
    );
    assert!(ops.contains(&Op::LoadBundled));
    let message = ops.iter().find_map(|op| match op {
        Op::Report(failure) => Some(failure.to_string()),
        _ => None,
    });
    let message = message.unwrap();
    assert!(message.contains("digit-lab-tiny.bpk") && message.contains("bundled model"));
    assert!(!message.to_lowercase().contains("choose"), "{message}");

    let ops = library.handle(ready(ModelSource::Bundled, &[5]), 2000.0);
    assert_eq!(ops, vec![Op::Point(None)]);
    assert_eq!(library.entries.len(), 1, "the broken entry is kept");
    assert_eq!(
        library.startup_entry(),
        None,
        "a broken entry is never loaded by itself"
    );
    library.pointer = Some(entry.id);
    assert_eq!(library.startup_entry(), None);
}

#[test]
fn a_start_up_failure_that_is_not_the_file_falls_back_without_quarantine() {
    let mut library = LibraryState::new(1);
    let entry = legacy_entry("mine.bpk", 3, 500.0, 1);
    assert_eq!(entry.kind, EntryKind::File);
    library.listed(vec![entry.clone()], Some(entry.id.clone()));
    library.sending(Load::Startup(entry.id.clone()));
    let problem = Problem::Needs(digit_lab::protocol::Prerequisite::Device);
    let ops = library.handle(LibraryEvent::LoadFailed(problem), 1000.0);
    assert_eq!(ops, vec![Op::LoadFallback]);
    assert_eq!(library.entries[0].broken, None);
    // The bundled model stands in, but the stored pointer stays on the user's model.
    library.sending(Load::Fallback);
    let ops = library.handle(ready(ModelSource::Bundled, &[9]), 1100.0);
    assert!(!ops.iter().any(|op| matches!(op, Op::Point(_))), "{ops:?}");
}

#[test]
fn the_bundled_model_refused_during_training_loses_nothing() {
    let mut library = LibraryState::new(1);
    library.handle(LibraryEvent::RunStarted, 1000.0);
    library.handle(checkpoint(0, 0.5, &[1]), 2000.0);
    library.sending(Load::Bundled);
    let ops = library.handle(
        LibraryEvent::LoadFailed(Problem::TrainingInProgress),
        2500.0,
    );
    assert!(ops.is_empty());
    assert_eq!(library.entries.len(), 1);
    let run = library.run.clone().unwrap();
    assert!(
        !library.can_delete(&run),
        "the run still writes its checkpoints"
    );
    assert!(library.delete(&run).is_empty());
}

#[test]
fn a_kept_run_is_offered_and_adopting_it_makes_its_entry_current() {
    let mut library = LibraryState::new(1);
    library.sending(Load::Bundled);
    library.handle(ready(ModelSource::Bundled, &[5]), 500.0);
    library.handle(LibraryEvent::RunStarted, 1000.0);
    library.handle(checkpoint(0, 0.3, &[1]), 2000.0);
    library.handle(LibraryEvent::RunFinished, 2100.0);
    let kept = LibraryEvent::RunKept {
        info: info(ModelSource::Trained, Some(0.3)),
        current_val_accuracy: 0.9957,
        bytes: vec![4, 4],
    };
    let ops = library.handle(kept, 2200.0);
    let run = library.run.clone().unwrap();
    assert_eq!(saved(&ops), vec![(run.clone(), Some(vec![4, 4]), false)]);
    let offer = library.kept.clone().unwrap();
    assert_eq!(offer.entry, run);
    assert_eq!(
        (offer.val_accuracy, offer.current_val_accuracy),
        (Some(0.3), 0.9957)
    );
    assert_eq!(offer.current_name, "the bundled model");
    assert_eq!(library.pointer, None, "not current until adopted");
    // Another model made current meanwhile: the offer's comparison is void.
    library.sending(Load::Bundled);
    library.handle(ready(ModelSource::Bundled, &[5]), 2500.0);
    assert_eq!(library.kept, None);
    library.kept = Some(offer.clone());

    library.sending(Load::Kept(run.clone()));
    let adopted = LibraryEvent::Ready {
        info: info(ModelSource::Trained, Some(0.3)),
        bytes: Some(offer.bytes.to_vec()),
    };
    let ops = library.handle(adopted, 3000.0);
    assert_eq!(ops, vec![Op::Point(Some(run.clone()))]);
    assert_eq!(library.kept, None);
    assert!(library.is_current(&run));
    assert!(!library.can_delete(&run), "the model in use");
}

#[test]
fn entries_are_renamed_deleted_and_picked_and_the_pointer_follows_the_worker() {
    let mut library = LibraryState::new(1);
    let a = legacy_entry("a.bpk", 3, 500.0, 1);
    let b = legacy_entry("b.bpk", 3, 600.0, 2);
    library.listed(vec![a.clone(), b.clone()], None);
    assert_eq!(library.entries[0].id, b.id, "newest first");
    library.sending(Load::Entry(a.id.clone()));
    let ops = library.handle(ready(ModelSource::Stored, &[1]), 1000.0);
    assert_eq!(ops.last(), Some(&Op::Point(Some(a.id.clone()))));
    assert_eq!(
        library.entry(&a.id).unwrap().preset.as_deref(),
        Some("tiny")
    );
    assert_eq!(library.current.as_ref().unwrap().file_name, "a.bpk");

    let ops = library.rename(&a.id, "  my best ");
    assert_eq!(library.entry(&a.id).unwrap().name, "my best");
    assert_eq!(saved(&ops), vec![(a.id.clone(), None, false)]);
    assert!(library.rename(&a.id, "   ").is_empty());
    assert!(library.delete(&a.id).is_empty(), "the current model stays");
    assert_eq!(library.delete(&b.id), vec![Op::Delete(b.id.clone())]);
    assert_eq!(library.entries.len(), 1);

    library.sending(Load::Entry(a.id.clone()));
    let ops = library.handle(LibraryEvent::LoadFailed(model_file_problem()), 2000.0);
    assert_eq!(saved(&ops), vec![(a.id.clone(), None, false)]);
    assert!(library.entry(&a.id).unwrap().broken.is_some());
    assert_eq!(
        library.pointer,
        Some(a.id),
        "a failed pick changes no pointer"
    );
}

#[test]
fn a_replacement_worker_gets_the_current_model_and_forgets_the_old_loads() {
    let mut library = LibraryState::new(1);
    assert_eq!(library.replacement(), None);
    library.sending(Load::Bundled);
    library.handle(ready(ModelSource::Bundled, &[5]), 500.0);
    let (load, file) = library.replacement().unwrap();
    assert_eq!((load, &*file.bytes), (Load::Bundled, &[5u8][..]));
    library.handle(LibraryEvent::RunStarted, 1000.0);
    library.handle(checkpoint(0, 0.5, &[1]), 2000.0);
    library.sending(Load::Bundled);
    library.worker_replaced();
    assert!(!library.loading(), "the old worker's loads are forgotten");
    let run = library.run.clone().unwrap();
    assert!(library.can_delete(&run), "its run is over");
    let (load, file) = library.replacement().unwrap();
    assert_eq!(
        (load, &*file.bytes),
        (Load::Bundled, &[5u8][..]),
        "not the checkpoint"
    );
    library.sending(Load::Entry(run.clone()));
    library.handle(ready(ModelSource::Stored, &[1]), 3000.0);
    assert_eq!(library.replacement().unwrap().0, Load::Startup(run));
}

#[test]
fn legacy_records_and_download_names() {
    let trained = legacy_entry("small-checkpoint.bpk", 10, 42.0, 255);
    assert_eq!(trained.id, "stored-42-000000ff");
    assert_eq!(
        (trained.kind, trained.preset.as_deref()),
        (EntryKind::Run, Some("small"))
    );
    assert_eq!(trained.size, 10);
    let mut entry = legacy_entry("x.bpk", 1, 0.0, 0);
    assert_eq!(entry.download_name(), "x.bpk");
    entry.name = "best: run/2 ".into();
    assert_eq!(entry.download_name(), "best--run-2.bpk");
    entry.name = String::new();
    assert_eq!(entry.download_name(), "model.bpk");
}

#[test]
fn a_stored_model_from_a_newer_page_is_not_marked_broken() {
    let mut library = LibraryState::new(1);
    let entry = legacy_entry("newer.bpk", 3, 500.0, 1);
    library.listed(vec![entry.clone()], Some(entry.id.clone()));
    library.sending(Load::Startup(entry.id.clone()));
    let too_new = ModelFileError::TooNew("newer.bpk".into(), 9);
    let ops = library.handle(
        LibraryEvent::LoadFailed(Problem::ModelFile(too_new)),
        1000.0,
    );
    assert_eq!(ops.last(), Some(&Op::LoadFallback));
    assert!(matches!(ops[0], Op::Report(_)));
    assert_eq!(library.entries[0].broken, None);
}

#[test]
fn ticked_entries_combine_into_a_new_current_ensemble_entry() {
    let mut library = LibraryState::new(3);
    for (i, now) in [1000.0, 5000.0].into_iter().enumerate() {
        library.handle(LibraryEvent::RunStarted, now);
        library.handle(checkpoint(0, 0.6 + i as f64 / 10.0, &[i as u8]), now + 1.0);
        library.handle(LibraryEvent::RunFinished, now + 2.0);
    }
    let (newer, older) = (library.entries[0].id.clone(), library.entries[1].id.clone());
    assert_eq!(library.combination(), None, "nothing ticked");
    library.toggle_selected(&older);
    assert_eq!(library.combination(), None, "one model is no ensemble");
    library.toggle_selected(&newer);
    library.toggle_selected("no-such-entry");
    let (entries, name) = library.combination().expect("two runs combine");
    assert_eq!(entries.len(), 2);
    assert_eq!(
        name, "ensemble of tiny run 1 + tiny run 2",
        "in the order ticked"
    );

    // An ensemble counts as its members: 8 in all at most.
    library.entries[0].members = 8;
    assert_eq!(library.combination(), None);
    library.entries[0].members = 1;
    library.entries[1].broken = Some("unreadable".into());
    assert_eq!(
        library.combination(),
        None,
        "a broken entry cannot be combined"
    );
    library.entries[1].broken = None;

    library.combining(name.clone());
    assert!(library.selected.is_empty() && library.loading());
    let mut ensemble = info(ModelSource::File(name.clone()), Some(0.7));
    let mut members = ensemble.meta.members();
    members[0].training.as_mut().unwrap().config.member = 1;
    ensemble.meta.ensemble = Some(digit_lab::model_file::Ensemble {
        others: members,
        val_accuracy: Some(0.75),
        val_loss: Some(0.4),
    });
    let ops = library.handle(
        LibraryEvent::Ready {
            info: ensemble,
            bytes: Some(vec![9]),
        },
        9000.0,
    );
    let (id, bytes, current) = saved(&ops).remove(0);
    assert_eq!((bytes, current), (Some(vec![9]), true));
    let entry = library.entry(&id).unwrap();
    assert_eq!((entry.name.as_str(), entry.members), (name.as_str(), 2));
    assert_eq!(
        entry.val_accuracy,
        Some(0.75),
        "the ensemble's own accuracy"
    );
    assert!(library.is_current(&id) && !library.loading());

    library.toggle_selected(&older);
    library.toggle_selected(&newer);
    library.toggle_selected(&newer);
    assert_eq!(
        library.selected,
        vec![older.clone()],
        "ticked twice is unticked"
    );
    library.delete(&older);
    assert!(
        library.selected.is_empty(),
        "a deleted entry is no longer ticked"
    );
}

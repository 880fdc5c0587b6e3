//! The model library: every model kept in this browser (the best weights of each training run,
//! each model file loaded), which one is current, and the model loads in flight. Plain Rust:
//! the functions here decide and return [`Op`]s; `effects.rs` performs them (`storage.rs` does
//! the IndexedDB part).
//!
//! The rules the library keeps:
//! - nothing is deleted unless the user deletes it, and never the current model or the entry
//!   of the run in progress;
//! - the stored pointer to the current entry changes only when the worker accepted a model
//!   (`ModelReady`), so a refused load never leaves the page pointing at nothing;
//! - a stored model that cannot be loaded at start-up is marked broken (kept, so it can be
//!   downloaded or deleted) and the bundled model is loaded instead.

use std::collections::VecDeque;
use std::sync::Arc;

use digit_lab::model::Preset;
use digit_lab::model_file::{MAX_MEMBERS, ModelFileError};
use digit_lab::protocol::{Failure, ModelInfo, ModelSource, Operation, Problem};

use super::model;

mod entry;
use entry::created_of;
pub use entry::{CurrentFile, Entry, EntryKind, legacy_entry};

/// A model load sent to the worker and not answered yet: what a failure or a `ModelReady`
/// refers to (the worker answers commands in order).
#[derive(Clone, Debug, PartialEq)]
pub enum Load {
    Bundled,
    /// The bundled model because the current entry could not be loaded for a reason that is
    /// not the entry's (no device yet, the library did not answer): the pointer stays, so the
    /// user's model is current again on the next visit.
    Fallback,
    /// The current entry at start-up (or for a replacement worker): if it fails, the page falls
    /// back to the bundled model.
    Startup(String),
    /// An entry the user picked.
    Entry(String),
    /// A file the user chose: it becomes an entry once the worker accepted it.
    File(String),
    /// Adopting a run that was kept aside.
    Kept(String),
}

impl Load {
    /// What the `LoadModel` command says about where the model comes from.
    pub fn source(&self) -> ModelSource {
        match self {
            Load::Bundled | Load::Fallback => ModelSource::Bundled,
            Load::Startup(_) | Load::Entry(_) => ModelSource::Stored,
            Load::File(name) => ModelSource::File(name.clone()),
            Load::Kept(_) => ModelSource::Trained,
        }
    }

    fn answered_by(&self, source: &ModelSource) -> bool {
        matches!(
            (self, source),
            (Load::Bundled | Load::Fallback, ModelSource::Bundled)
                | (Load::Startup(_) | Load::Entry(_), ModelSource::Stored)
                | (Load::File(_), ModelSource::File(_))
                | (Load::Kept(_), ModelSource::Trained)
        )
    }
}

/// A finished run far worse than the current model: the worker kept it aside and the user
/// chooses.
#[derive(Clone, Debug, PartialEq)]
pub struct KeptRun {
    pub entry: String,
    pub val_accuracy: Option<f64>,
    pub current_val_accuracy: f64,
    /// What the current model is called, to say which one it is compared with.
    pub current_name: String,
    pub file_name: String,
    pub bytes: Arc<[u8]>,
}

/// The replies the library acts on, with their model files handed over.
#[derive(Debug, PartialEq)]
pub enum LibraryEvent {
    RunStarted,
    RunFinished,
    Checkpoint {
        file_name: String,
        epoch: usize,
        val_accuracy: Option<f64>,
        bytes: Vec<u8>,
    },
    /// A model became current (`bytes`: its file, which the protocol always sends).
    Ready {
        info: Box<ModelInfo>,
        bytes: Option<Vec<u8>>,
    },
    RunKept {
        info: Box<ModelInfo>,
        current_val_accuracy: f64,
        bytes: Vec<u8>,
    },
    /// A `LoadModel` failed.
    LoadFailed(Problem),
}

/// What the library asks of the world outside.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Write an entry's record, with its file when given; with `make_current` the pointer too,
    /// all in one transaction.
    Save {
        entry: Entry,
        bytes: Option<Arc<[u8]>>,
        make_current: bool,
    },
    /// Point the stored "current" at an entry (`None`: the bundled model).
    Point(Option<String>),
    Delete(String),
    LoadBundled,
    /// The bundled model, leaving the pointer where it is ([`Load::Fallback`]).
    LoadFallback,
    Report(Failure),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct LibraryState {
    /// Newest first.
    pub entries: Vec<Entry>,
    /// The stored pointer as last read or written: the entry to load at start-up.
    pub pointer: Option<String>,
    /// The model the worker holds now.
    pub current: Option<CurrentFile>,
    pub kept: Option<KeptRun>,
    /// The entry of the latest run (assigned when it starts, written at its first checkpoint).
    pub run: Option<String>,
    pub run_active: bool,
    /// Storage writes queued or under way (`effects` counts them): a reload now could lose
    /// them.
    pub saving: usize,
    /// Entries ticked to combine into an ensemble, in the order ticked.
    pub selected: Vec<String>,
    /// Loads sent and not answered yet, oldest first.
    pending: VecDeque<Load>,
    /// This tab's tag in new ids, and a counter for ids made in the same millisecond.
    tab: u32,
    made: u32,
}

impl LibraryState {
    pub fn new(tab: u32) -> Self {
        Self {
            tab,
            ..Self::default()
        }
    }

    /// This tab's tag (in the ids it makes).
    pub fn tab(&self) -> u32 {
        self.tab
    }

    pub fn entry(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.id == id)
    }

    pub fn is_current(&self, id: &str) -> bool {
        self.current
            .as_ref()
            .is_some_and(|c| c.entry.as_deref() == Some(id))
    }

    /// A model load is in flight (buttons that load another wait for it).
    pub fn loading(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The list and pointer as read from storage (the truth, other tabs' writes included).
    pub fn listed(&mut self, mut entries: Vec<Entry>, pointer: Option<String>) {
        entries.sort_by(|a, b| b.created.total_cmp(&a.created));
        self.entries = entries;
        self.pointer = pointer;
    }

    /// Which entry the page loads at start-up: the stored pointer's, unless it is missing or
    /// broken; `None`: the bundled model.
    pub fn startup_entry(&self) -> Option<Entry> {
        let id = self.pointer.as_deref()?;
        self.entry(id).filter(|e| e.broken.is_none()).cloned()
    }

    /// What a replacement worker gets: the model the old one held, from memory (its load is
    /// answered as a stored entry's, or the bundled model's).
    pub fn replacement(&self) -> Option<(Load, CurrentFile)> {
        let current = self.current.clone()?;
        let load = current.entry.clone().map_or(Load::Bundled, Load::Startup);
        Some((load, current))
    }

    /// A load was sent to the worker.
    pub fn sending(&mut self, load: Load) {
        self.pending.push_back(load);
    }

    /// The worker was replaced (it crashed, or moved to the CPU): its loads will not be
    /// answered and its run is over.
    pub fn worker_replaced(&mut self) {
        self.pending.clear();
        self.run_active = false;
    }

    pub fn dismiss_kept(&mut self) {
        self.kept = None;
    }

    /// Mark an entry broken (kept, never loaded again by itself) and fall back to the bundled
    /// model, saying what happened.
    pub fn quarantine(&mut self, id: &str, reason: String) -> Vec<Op> {
        let mut ops = Vec::new();
        if let Some(entry) = self.entries.iter_mut().find(|e| e.id == id) {
            entry.broken = Some(reason.clone());
            let problem = Problem::Browser(format!(
                "the model stored in this browser (\"{}\") could not be loaded: {reason}. It is \
                 kept in the Model tab's library, marked broken (download or delete it there); \
                 the bundled model is used instead.",
                entry.name
            ));
            ops.push(Op::Save {
                entry: entry.clone(),
                bytes: None,
                make_current: false,
            });
            ops.push(Op::Report(Failure::new(Operation::LoadModel, problem)));
        }
        ops.push(Op::LoadBundled);
        ops
    }

    pub fn rename(&mut self, id: &str, name: &str) -> Vec<Op> {
        let name = name.trim();
        match self.entries.iter_mut().find(|e| e.id == id) {
            Some(entry) if !name.is_empty() && entry.name != name => {
                entry.name = name.to_string();
                vec![Op::Save {
                    entry: entry.clone(),
                    bytes: None,
                    make_current: false,
                }]
            }
            _ => Vec::new(),
        }
    }

    /// Neither the model in use nor the run still writing its checkpoints can be deleted.
    pub fn can_delete(&self, id: &str) -> bool {
        let running = self.run_active && self.run.as_deref() == Some(id);
        !(self.is_current(id) || running)
    }

    pub fn delete(&mut self, id: &str) -> Vec<Op> {
        if !self.can_delete(id) || self.entry(id).is_none() {
            return Vec::new();
        }
        self.entries.retain(|e| e.id != id);
        self.selected.retain(|s| s != id);
        if self.kept.as_ref().is_some_and(|k| k.entry == id) {
            self.kept = None;
        }
        vec![Op::Delete(id.to_string())]
    }

    /// Tick or untick an entry for "combine into an ensemble".
    pub fn toggle_selected(&mut self, id: &str) {
        match self.selected.iter().position(|s| s == id) {
            Some(i) => {
                self.selected.remove(i);
            }
            None if self.entry(id).is_some() => self.selected.push(id.to_string()),
            None => {}
        }
    }

    /// The ticked entries and the name of their ensemble, when they can be combined (2 to
    /// [`MAX_MEMBERS`] models in all, none broken); the worker checks the rest (same
    /// validation split, not the same model twice) and says why not.
    pub fn combination(&self) -> Option<(Vec<Entry>, String)> {
        let entries: Vec<Entry> = self
            .selected
            .iter()
            .filter_map(|id| self.entry(id).cloned())
            .collect();
        let members: usize = entries.iter().map(|e| e.members.max(1)).sum();
        let usable = entries.iter().all(|e| e.broken.is_none());
        if !(usable && entries.len() >= 2 && (2..=MAX_MEMBERS).contains(&members)) {
            return None;
        }
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        let name = format!("ensemble of {}", names.join(" + "));
        Some((entries, name))
    }

    /// The ticked entries were sent to be combined: the answer becomes a new file entry.
    pub fn combining(&mut self, name: String) {
        self.selected.clear();
        self.sending(Load::File(name));
    }

    /// Fold one event in; `now` is the wall clock (ms since the Unix epoch) for new entries.
    pub fn handle(&mut self, event: LibraryEvent, now: f64) -> Vec<Op> {
        match event {
            LibraryEvent::RunStarted => {
                self.run = Some(self.new_id("run", now));
                self.run_active = true;
                self.kept = None;
                Vec::new()
            }
            LibraryEvent::RunFinished => {
                self.run_active = false;
                Vec::new()
            }
            LibraryEvent::Checkpoint {
                file_name,
                epoch,
                val_accuracy,
                bytes,
            } => {
                let preset = file_name
                    .strip_suffix("-checkpoint.bpk")
                    .and_then(Preset::from_id)
                    .map(|p| p.id().to_string());
                let entry = self.run_entry(now, preset);
                entry.val_accuracy = val_accuracy;
                entry.epoch = Some(epoch);
                entry.size = bytes.len();
                vec![Op::Save {
                    entry: entry.clone(),
                    bytes: Some(bytes.into()),
                    make_current: false,
                }]
            }
            LibraryEvent::Ready { info, bytes } => self.ready(&info, bytes, now),
            LibraryEvent::RunKept {
                info,
                current_val_accuracy,
                bytes,
            } => {
                self.run_active = false;
                let bytes: Arc<[u8]> = bytes.into();
                let preset = info.meta.preset.map(|p| p.id().to_string());
                let entry = self.run_entry(now, preset);
                entry.describe(&info, Some(bytes.len()));
                let entry = entry.clone();
                self.kept = Some(KeptRun {
                    entry: entry.id.clone(),
                    val_accuracy: entry.val_accuracy,
                    current_val_accuracy,
                    current_name: self.current_name(),
                    file_name: entry.download_name(),
                    bytes: bytes.clone(),
                });
                vec![Op::Save {
                    entry,
                    bytes: Some(bytes),
                    make_current: false,
                }]
            }
            LibraryEvent::LoadFailed(problem) => {
                let Some(load) = self.pending.pop_front() else {
                    return Vec::new();
                };
                match (load, &problem) {
                    // A newer page wrote it: not broken, only not readable by this one.
                    (Load::Startup(_), Problem::ModelFile(e @ ModelFileError::TooNew(..))) => vec![
                        Op::Report(Failure::new(
                            Operation::LoadModel,
                            Problem::Browser(format!(
                                "{e} Until then the bundled model is used; the stored model \
                                 stays current for a newer Digit Lab."
                            )),
                        )),
                        Op::LoadFallback,
                    ],
                    (Load::Startup(id), Problem::ModelFile(e)) => self.quarantine(&id, reason(e)),
                    // Not the file's fault (e.g. no device yet): still never leave the page
                    // without a model.
                    (Load::Startup(_), _) => vec![Op::LoadFallback],
                    (Load::Entry(id), Problem::ModelFile(error)) => {
                        match self.entries.iter_mut().find(|e| e.id == id) {
                            Some(entry) => {
                                entry.broken = Some(reason(error));
                                vec![Op::Save {
                                    entry: entry.clone(),
                                    bytes: None,
                                    make_current: false,
                                }]
                            }
                            None => Vec::new(),
                        }
                    }
                    // The worker's failure is shown as it is; nothing was written yet.
                    _ => Vec::new(),
                }
            }
        }
    }

    /// The worker made a model current: now (and only now) the pointer follows.
    fn ready(&mut self, info: &ModelInfo, bytes: Option<Vec<u8>>, now: f64) -> Vec<Op> {
        let load = match self.pending.front() {
            Some(load) if load.answered_by(&info.source) => self.pending.pop_front(),
            _ => None,
        };
        let bytes: Option<Arc<[u8]>> = bytes.map(Into::into);
        let size = bytes.as_ref().map(|b| b.len());
        let mut ops = Vec::new();
        let entry = match (load.as_ref(), &info.source) {
            (Some(Load::Startup(id) | Load::Entry(id) | Load::Kept(id)), _) => {
                // A stored entry: fill in what the file says (an entry migrated from the old
                // single slot knew only its name).
                if let Some(entry) = self.entries.iter_mut().find(|e| e.id == *id) {
                    let before = entry.clone();
                    entry.describe(info, size);
                    if *entry != before {
                        ops.push(Op::Save {
                            entry: entry.clone(),
                            bytes: None,
                            make_current: false,
                        });
                    }
                }
                ops.push(Op::Point(Some(id.clone())));
                Some(id.clone())
            }
            (Some(Load::Fallback), _) => None,
            (Some(Load::Bundled), _) | (None, ModelSource::Bundled) => {
                ops.push(Op::Point(None));
                None
            }
            (Some(Load::File(name)), _) | (None, ModelSource::File(name)) => {
                let id = self.new_id("file", now);
                let mut entry = Entry {
                    id: id.clone(),
                    name: name.clone(),
                    kind: EntryKind::File,
                    preset: None,
                    val_accuracy: None,
                    epoch: None,
                    created: now,
                    size: 0,
                    broken: None,
                    members: 0,
                };
                entry.describe(info, size);
                self.entries.insert(0, entry.clone());
                if bytes.is_some() {
                    ops.push(Op::Save {
                        entry,
                        bytes: bytes.clone(),
                        make_current: true,
                    });
                }
                Some(id)
            }
            (None, ModelSource::Trained) => {
                // The run just finished and its best weights became current.
                self.run_active = false;
                let preset = info.meta.preset.map(|p| p.id().to_string());
                let entry = self.run_entry(now, preset);
                entry.describe(info, size);
                let entry = entry.clone();
                if bytes.is_some() {
                    ops.push(Op::Save {
                        entry: entry.clone(),
                        bytes: bytes.clone(),
                        make_current: true,
                    });
                }
                Some(entry.id)
            }
            // A stored model nobody here asked for: it is current, but not one of ours.
            (None, ModelSource::Stored) => None,
        };
        let made_current = ops.iter().any(|op| match op {
            Op::Point(_) => true,
            Op::Save { make_current, .. } => *make_current,
            _ => false,
        });
        if made_current {
            self.pointer = entry.clone();
        }
        // Adopted, or another model made current: its comparison with "the current model" no
        // longer holds (the run stays in the library).
        self.kept = None;
        let file_name = entry
            .as_deref()
            .and_then(|id| self.entry(id))
            .map_or_else(|| model::file_name(info), Entry::download_name);
        self.current = bytes.map(|bytes| CurrentFile {
            entry,
            file_name,
            bytes,
        });
        ops
    }

    /// What the current model is called in the library (or "the bundled model").
    pub fn current_name(&self) -> String {
        match &self.current {
            Some(CurrentFile {
                entry: Some(id), ..
            }) => self
                .entry(id)
                .map_or_else(|| "a stored model".into(), |e| e.name.clone()),
            Some(CurrentFile { entry: None, .. }) => "the bundled model".into(),
            None => "none".into(),
        }
    }

    /// The entry of the latest run, made if it is not in the list yet.
    fn run_entry(&mut self, now: f64, preset: Option<String>) -> &mut Entry {
        let id = match &self.run {
            Some(id) => id.clone(),
            None => {
                let id = self.new_id("run", now);
                self.run = Some(id.clone());
                id
            }
        };
        if let Some(i) = self.entries.iter().position(|e| e.id == id) {
            return &mut self.entries[i];
        }
        let label = preset.clone().unwrap_or_else(|| "model".into());
        let runs = self
            .entries
            .iter()
            .filter(|e| e.kind == EntryKind::Run && e.preset == preset)
            .count();
        let created = created_of(&id).unwrap_or(now);
        self.entries.insert(
            0,
            Entry {
                id,
                name: format!("{label} run {}", runs + 1),
                kind: EntryKind::Run,
                preset,
                val_accuracy: None,
                epoch: None,
                created,
                size: 0,
                broken: None,
                members: 0,
            },
        );
        &mut self.entries[0]
    }

    fn new_id(&mut self, kind: &str, now: f64) -> String {
        self.made += 1;
        format!("{kind}-{now:.0}-{:08x}{}", self.tab, self.made)
    }
}

/// Why a stored file failed, without the file error's advice to choose another file: the user
/// chose none at start-up.
fn reason(e: &ModelFileError) -> String {
    match e {
        ModelFileError::NotAModel(_, why) => format!("it is not a Digit Lab model file ({why})"),
        ModelFileError::TooNew(_, version) => {
            format!("it was saved by a newer Digit Lab (model format {version})")
        }
        ModelFileError::Mismatch(_, why) => format!("it does not match its architecture ({why})"),
        ModelFileError::Invalid(_, why) => format!("it describes an unusable model ({why})"),
        ModelFileError::CannotCombine(why) | ModelFileError::Read(why) => why.clone(),
    }
}

#[cfg(test)]
mod tests;

//! One kept model as stored (`Entry`), the current model's file, and the records of older
//! versions of the page.

use std::sync::Arc;

use digit_lab::model::Preset;
use digit_lab::protocol::ModelInfo;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// The best weights of a training run in this browser.
    Run,
    /// A model file the user loaded (or one stored by an older version of the page).
    File,
}

/// One kept model, as stored (its bytes are stored beside it under the same id).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// `run-…`, `file-…` or `stored-…`, then the creation time and this tab's tag: unique
    /// across tabs, so two tabs never write the same record.
    pub id: String,
    pub name: String,
    pub kind: EntryKind,
    /// The preset's id (`Preset::id`), when the model is one.
    #[serde(default)]
    pub preset: Option<String>,
    #[serde(default)]
    pub val_accuracy: Option<f64>,
    /// The best epoch (0-based) of a run.
    #[serde(default)]
    pub epoch: Option<usize>,
    /// When the entry was made (milliseconds since the Unix epoch).
    pub created: f64,
    /// The model file's size in bytes.
    #[serde(default)]
    pub size: usize,
    /// Why the model could not be loaded, once it failed to: it stays here, not used.
    #[serde(default)]
    pub broken: Option<String>,
    /// How many models predict together (more than 1: an ensemble file; 0: not known yet).
    #[serde(default)]
    pub members: usize,
}

impl Entry {
    /// The name a download of this entry gets.
    pub fn download_name(&self) -> String {
        let stem: String = self
            .name
            .trim()
            .chars()
            .map(|c| match c {
                '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '-',
                c if c.is_whitespace() => '-',
                c => c,
            })
            .collect();
        let stem = if stem.is_empty() {
            "model".into()
        } else {
            stem
        };
        if stem.ends_with(".bpk") {
            stem
        } else {
            format!("{stem}.bpk")
        }
    }

    /// Take what a loaded model says about itself.
    pub(super) fn describe(&mut self, info: &ModelInfo, size: Option<usize>) {
        self.preset = info.meta.preset.map(|p| p.id().to_string());
        self.members = info.meta.member_count();
        if info.meta.ensemble.is_some() {
            self.val_accuracy = info.meta.val_accuracy();
            self.epoch = None;
        } else if let Some(training) = &info.meta.training {
            self.val_accuracy = training.val_accuracy;
            self.epoch = training.best_epoch;
        }
        if let Some(size) = size {
            self.size = size;
        }
    }
}

/// The model file of the current model, for "Download model": exactly the bytes the worker
/// made current.
#[derive(Clone, Debug, PartialEq)]
pub struct CurrentFile {
    /// Its library entry; `None` for the bundled model.
    pub entry: Option<String>,
    pub file_name: String,
    pub bytes: Arc<[u8]>,
}

/// The creation time written in an id (`kind-<ms>-…`).
pub(super) fn created_of(id: &str) -> Option<f64> {
    id.split('-').nth(1)?.parse().ok()
}

/// The entry for the one model file an older version of the page kept (a single record
/// `{ name, bytes }`): a trained model was saved as `digit-lab-<preset>.bpk` or
/// `<preset>-checkpoint.bpk`, anything else was a loaded file.
pub fn legacy_entry(name: &str, size: usize, now: f64, tab: u32) -> Entry {
    let stem = name.strip_suffix(".bpk").unwrap_or(name);
    let trained = stem
        .strip_prefix("digit-lab-")
        .or_else(|| stem.strip_suffix("-checkpoint"))
        .and_then(Preset::from_id);
    Entry {
        id: format!("stored-{now:.0}-{tab:08x}"),
        name: name.to_string(),
        kind: if trained.is_some() {
            EntryKind::Run
        } else {
            EntryKind::File
        },
        preset: trained.map(|p| p.id().to_string()),
        val_accuracy: None,
        epoch: None,
        created: now,
        size,
        broken: None,
        members: 0,
    }
}

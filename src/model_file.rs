//! Model files: a Burn record (burnpack) of the weights, with the architecture, preset,
//! preprocessing and training summary in the burnpack's metadata. The same bytes load natively
//! and in the browser.
//!
//! Saving reads every parameter with one async transaction (Burn's `into_record` reads
//! synchronously, which panics on WebGPU in a browser) and writes the same paths and parameter
//! ids that `into_record` would, so `ModuleRecord::from_bytes` + `load_record` read it back.

#[cfg(feature = "engine")]
use burn::module::{ModuleVisitor, Param};
#[cfg(feature = "engine")]
use burn::prelude::*;
#[cfg(feature = "engine")]
use burn::store::{DTypePolicy, ModuleRecord};
#[cfg(feature = "engine")]
use burn::tensor::{Bytes, DType, Transaction};
use serde::{Deserialize, Serialize};

#[cfg(feature = "engine")]
use crate::data::dataset::{Digits, Split};
use crate::evaluation::tta::{Tta, TtaChoice};
#[cfg(feature = "engine")]
use crate::model::DigitNet;
use crate::model::{Architecture, Preset};
use crate::training::config::TrainConfig;

mod ensemble;
pub use ensemble::{Ensemble, MAX_MEMBERS};
#[cfg(feature = "engine")]
pub use ensemble::{combine, with_figures, with_tta_choice};

#[cfg(feature = "engine")]
const METADATA_KEY: &str = "digit-lab";
const FORMAT: &str = "digit-lab-model";
/// The newest format this build reads and writes: 2 holds ensembles (see [`ensemble`]).
#[cfg(feature = "engine")]
const FORMAT_VERSION: u32 = 2;
/// What a single model's file is written as, so that older Digit Labs still read it.
const SINGLE_MODEL_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    pub format: String,
    pub format_version: u32,
    pub preset: Option<Preset>,
    pub architecture: Architecture,
    /// Input pixels are multiplied by this (the notebooks' `x / 255`).
    pub input_scale: f32,
    pub training: Option<TrainingSummary>,
    /// The other members when this file is an ensemble (format 2); this metadata is member 1's.
    /// Always written (`null` for a single model): the page ↔ worker wire format (bincode) is
    /// not self-describing, so a skipped field would garble every message after it; older
    /// readers of the JSON metadata ignore the key.
    #[serde(default)]
    pub ensemble: Option<Ensemble>,
    /// Which TTA this file's model (or ensemble) is predicted with when TTA is on, as its
    /// validation rows chose it; `None` for a file from before the choice was recorded, which
    /// gets [`Tta::default`]. Always written, for the same reason as `ensemble`.
    #[serde(default)]
    pub tta: Option<TtaChoice>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    pub config: TrainConfig,
    pub epochs_run: usize,
    pub best_epoch: Option<usize>,
    pub val_accuracy: Option<f64>,
    pub val_loss: Option<f64>,
    pub train_rows: usize,
    pub validation_rows: usize,
    pub seconds: f64,
    pub device: String,
}

/// A fine-tune's learning rate relative to the model's own recipe: the weights only need
/// nudging.
const FINE_TUNE_RATE: f64 = 0.25;

impl ModelMeta {
    /// The recipe that fine-tunes this model (on its drawings mixed into train.csv): its own
    /// recipe (else its preset's) for `epochs`, at a quarter of the learning rate, without early
    /// stopping; `None` for a model of no preset.
    pub fn fine_tune_recipe(&self, epochs: usize) -> Option<(Preset, TrainConfig)> {
        let preset = self.preset?;
        let recipe = self
            .training
            .as_ref()
            .map_or_else(|| preset.recipe(), |t| t.config.clone());
        let config = TrainConfig {
            epochs,
            learning_rate: recipe.learning_rate * FINE_TUNE_RATE,
            early_stopping: None,
            ..recipe
        };
        Some((preset, config))
    }

    /// The validation rows this model is judged on in `train`: the split it was trained with
    /// (its recipe's fraction and seed over the rows it saw, the first `train_rows +
    /// validation_rows`), or the default recipe's split for a model without a training record.
    /// The CLI's `evaluate` and the page's insights both use it.
    #[cfg(feature = "engine")]
    pub fn validation_split(&self, train: &Digits) -> Split {
        match &self.training {
            Some(t) => train.split_first(
                t.train_rows + t.validation_rows,
                t.config.validation_fraction,
                t.config.seed,
            ),
            None => {
                let recipe = TrainConfig::default();
                train.split(recipe.validation_fraction, recipe.seed)
            }
        }
    }

    /// The TTA that "TTA on" means for this model: its validation's choice (`None`: validation
    /// found no variant that helps, so the plain prediction), else the default 1-pixel shifts.
    pub fn prediction_tta(&self) -> Option<Tta> {
        match &self.tta {
            Some(choice) => choice.tta,
            None => Some(Tta::default()),
        }
    }

    pub fn new(
        preset: Option<Preset>,
        architecture: Architecture,
        training: Option<TrainingSummary>,
    ) -> Self {
        Self {
            format: FORMAT.into(),
            format_version: SINGLE_MODEL_VERSION,
            preset,
            architecture,
            input_scale: 1.0 / 255.0,
            training,
            ensemble: None,
            tta: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Precision {
    F32,
    /// Half the size; the weights are widened back to f32 when loaded.
    F16,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, thiserror::Error)]
pub enum ModelFileError {
    #[error("{0} is not a Digit Lab model file ({1}). Choose a file saved by Digit Lab (.bpk).")]
    NotAModel(String, String),
    #[error("{0} was saved by a newer Digit Lab (model format {1}); update Digit Lab to load it.")]
    TooNew(String, u32),
    #[error("{0} does not match its architecture: {1}")]
    Mismatch(String, String),
    #[error("{0} describes a model Digit Lab cannot use: {1}. Choose another model file.")]
    Invalid(String, String),
    #[error("These models cannot form an ensemble: {0}")]
    CannotCombine(String),
    #[error("reading the weights from the device failed: {0}")]
    Read(String),
}

#[cfg(feature = "engine")]
/// Serialise a single model (any device; reads are async); an ensemble's metadata is written as
/// its member 1's, since only that member's weights are given.
pub async fn to_bytes(
    model: &DigitNet,
    meta: &ModelMeta,
    precision: Precision,
) -> Result<Vec<u8>, ModelFileError> {
    let mut collector = ParamCollector::default();
    model.visit(&mut collector);
    let data = collector
        .transaction
        .execute_async()
        .await
        .map_err(|e| ModelFileError::Read(format!("{e:?}")))?;
    let tensors = collector
        .params
        .into_iter()
        .zip(data)
        .map(|((path, id), data)| {
            let data = match precision {
                Precision::F32 => data,
                Precision::F16 => data.convert_dtype(DType::F16),
            };
            let (bytes, shape, dtype) = data.into_parts();
            burn_pack::Tensor::new(path, dtype, shape, Some(id), bytes)
        })
        .collect();
    let single = meta.members().swap_remove(0);
    ensemble::pack("the model", tensors, &single)
}

/// Read only the metadata (cheap: no weights are decoded).
#[cfg(feature = "engine")]
pub fn read_meta(file_name: &str, bytes: &[u8]) -> Result<ModelMeta, ModelFileError> {
    let not_a_model = |why: String| ModelFileError::NotAModel(file_name.into(), why);
    let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| not_a_model(format!("not a Burn record: {e}")))?;
    let json = reader
        .metadata()
        .get(METADATA_KEY)
        .ok_or_else(|| not_a_model("a Burn record without Digit Lab metadata".into()))?;
    let meta: ModelMeta =
        serde_json::from_str(json).map_err(|e| not_a_model(format!("unreadable metadata: {e}")))?;
    if meta.format != FORMAT {
        return Err(not_a_model(format!("format {:?}", meta.format)));
    }
    if meta.format_version > FORMAT_VERSION {
        return Err(ModelFileError::TooNew(
            file_name.into(),
            meta.format_version,
        ));
    }
    meta.check()
        .map_err(|why| ModelFileError::Invalid(file_name.into(), why))?;
    Ok(meta)
}

#[cfg(feature = "engine")]
/// Rows a training record may claim (Kaggle's train.csv has 42,000): bounds the arithmetic
/// done with them (the validation split) however the file was edited.
const MAX_RECORDED_ROWS: usize = 100_000_000;

#[cfg(feature = "engine")]
impl ModelMeta {
    /// Every field a loaded file may not be trusted with, its ensemble record's included.
    fn check(&self) -> Result<(), String> {
        self.check_member()?;
        if let Some(choice) = &self.tta {
            choice
                .check()
                .map_err(|why| format!("its recorded TTA choice {why}"))?;
        }
        match &self.ensemble {
            Some(ensemble) => ensemble.check(self),
            None => Ok(()),
        }
    }

    /// One member's fields: the architecture must build within bounds (see
    /// [`Architecture::summary`]), the input scale and the training record must be usable as
    /// they are.
    fn check_member(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!("a member has format {:?}", self.format));
        }
        self.architecture.summary().map_err(|e| e.to_string())?;
        if !(self.input_scale.is_finite() && self.input_scale > 0.0) {
            return Err(format!(
                "input scale {} is not a positive number",
                self.input_scale
            ));
        }
        if let Some(t) = &self.training {
            t.config
                .validate()
                .map_err(|e| format!("its training recipe is invalid ({e})"))?;
            let rows = t.train_rows.checked_add(t.validation_rows);
            if rows.is_none_or(|rows| rows > MAX_RECORDED_ROWS) {
                return Err(format!(
                    "its training record claims {} + {} rows",
                    t.train_rows, t.validation_rows
                ));
            }
            let fraction = |v: Option<f64>| v.is_none_or(|v| (0.0..=1.0).contains(&v));
            if !fraction(t.val_accuracy) || t.val_loss.is_some_and(|l| l.is_nan() || l < 0.0) {
                return Err("its recorded validation metrics are out of range".into());
            }
        }
        Ok(())
    }
}

/// Every stored tensor must be f32 or f16 with as many bytes as its shape says, and every
/// weight finite: a NaN weight makes every prediction NaN (and Draw answer nothing).
#[cfg(feature = "engine")]
fn check_weights(file_name: &str, bytes: &[u8]) -> Result<(), ModelFileError> {
    let invalid = |why: String| ModelFileError::Invalid(file_name.into(), why);
    let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| ModelFileError::NotAModel(file_name.into(), format!("{e}")))?;
    let tensors = reader
        .into_tensors()
        .map_err(|e| invalid(format!("its weights cannot be read ({e})")))?;
    for tensor in tensors {
        let (name, dtype, shape, _, data) = tensor
            .into_parts()
            .map_err(|e| invalid(format!("its weights cannot be read ({e})")))?;
        if !matches!(dtype, DType::F32 | DType::F16) {
            return Err(invalid(format!("weight {name} is stored as {dtype:?}")));
        }
        let data = TensorData::try_from_bytes(data, shape, dtype)
            .map_err(|e| invalid(format!("weight {name} is cut short or padded ({e})")))?;
        if data.iter::<f32>().any(|v| !v.is_finite()) {
            return Err(invalid(format!(
                "weight {name} holds NaN or infinite values"
            )));
        }
    }
    Ok(())
}

#[cfg(feature = "engine")]
/// Load a model file onto a device (weights are uploaded, never read back): one network per
/// member (one for a single model), and the file's metadata.
pub fn from_bytes(
    file_name: &str,
    bytes: &[u8],
    device: &Device,
) -> Result<(Vec<DigitNet>, ModelMeta), ModelFileError> {
    let meta = read_meta(file_name, bytes)?;
    check_weights(file_name, bytes)?;
    if meta.ensemble.is_none() {
        return Ok((vec![load_weights(file_name, &meta, bytes, device)?], meta));
    }
    let members = meta.members();
    let nets = ensemble::split(file_name, &meta, bytes)?
        .into_iter()
        .zip(&members)
        .enumerate()
        .map(|(i, (tensors, member))| {
            let bytes = ensemble::pack(file_name, tensors, member)?;
            load_weights(file_name, member, &bytes, device).map_err(|e| match e {
                ModelFileError::Mismatch(name, why) => {
                    ModelFileError::Mismatch(name, format!("member {}: {why}", i + 1))
                }
                other => other,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok((nets, meta))
}

#[cfg(feature = "engine")]
/// A single model's weights into a network of its architecture.
fn load_weights(
    file_name: &str,
    meta: &ModelMeta,
    bytes: &[u8],
    device: &Device,
) -> Result<DigitNet, ModelFileError> {
    let mismatch = |why: String| ModelFileError::Mismatch(file_name.into(), why);
    let model =
        DigitNet::new(&meta.architecture, device, 0).map_err(|e| mismatch(e.to_string()))?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| mismatch(e.to_string()))?
        .with_dtype_policy(DTypePolicy::CastToModule);
    model
        .try_load_record(record)
        .map_err(|e| mismatch(e.to_string()))
}

#[cfg(feature = "engine")]
/// Collects float parameters under the paths (and ids) Burn's own record collector uses, and
/// registers each for one async read.
#[derive(Default)]
struct ParamCollector {
    path: Vec<String>,
    params: Vec<(String, u64)>,
    transaction: Transaction,
}

#[cfg(feature = "engine")]
impl ModuleVisitor for ParamCollector {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.params.push((self.path.join("."), param.id.val()));
        let transaction = std::mem::take(&mut self.transaction);
        self.transaction = transaction.register(param.transform_for_save().val());
    }
}

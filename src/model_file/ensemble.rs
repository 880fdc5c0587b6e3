//! Ensemble model files: several models in one burnpack, predicted as the mean of their
//! probabilities. Member 1's weights keep the paths a single-model file uses and the metadata is
//! member 1's plus an [`Ensemble`] record with the others' metadata; member `k` (k ≥ 2) is stored
//! under `member{k}.`. So an ensemble is one file and one download, and a Digit Lab that only knows
//! single models refuses it by its format version instead of quietly loading member 1 alone.

use serde::{Deserialize, Serialize};

use super::ModelMeta;

/// More members cost inference time in Draw for little accuracy (3 × 20 epochs did not beat
/// 2 × 20 on the validation split, README.md "Recipe").
pub const MAX_MEMBERS: usize = 8;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ensemble {
    /// Members 2, 3, …: each one's metadata as its own file had it.
    pub others: Vec<ModelMeta>,
    /// The ensemble's own figures on the members' shared validation split, when measured.
    pub val_accuracy: Option<f64>,
    pub val_loss: Option<f64>,
}

impl ModelMeta {
    /// How many models predict together (1 for a single model).
    pub fn member_count(&self) -> usize {
        self.ensemble.as_ref().map_or(1, |e| e.others.len() + 1)
    }

    /// Every member's own metadata, member 1 first.
    pub fn members(&self) -> Vec<ModelMeta> {
        let mut first = self.clone();
        first.ensemble = None;
        // An ensemble file's TTA choice is the ensemble's, not member 1's.
        first.tta = None;
        first.format_version = super::SINGLE_MODEL_VERSION;
        let mut members = vec![first];
        if let Some(ensemble) = &self.ensemble {
            members.extend(ensemble.others.iter().cloned());
        }
        members
    }

    /// The validation accuracy to judge this model by: the ensemble's, else its training's.
    pub fn val_accuracy(&self) -> Option<f64> {
        match &self.ensemble {
            Some(ensemble) => ensemble.val_accuracy,
            None => self.training.as_ref().and_then(|t| t.val_accuracy),
        }
    }
}

#[cfg(feature = "engine")]
pub use engine::{combine, with_figures, with_tta_choice};
#[cfg(feature = "engine")]
pub(super) use engine::{pack, split};

#[cfg(feature = "engine")]
mod engine {
    use burn::tensor::Bytes;

    use super::super::{
        FORMAT_VERSION, METADATA_KEY, ModelFileError, ModelMeta, SINGLE_MODEL_VERSION,
        check_weights, read_meta,
    };
    use super::{Ensemble, MAX_MEMBERS};
    use crate::evaluation::tta::TtaChoice;

    /// What identifies a model's validation rows: the rows it saw, its validation fraction and seed
    /// (`None`: no training record, the default recipe's split of the whole file).
    fn validation_rows(meta: &ModelMeta) -> Option<(usize, u64, u64)> {
        meta.training.as_ref().map(|t| {
            (
                t.train_rows + t.validation_rows,
                t.config.validation_fraction.to_bits(),
                t.config.seed,
            )
        })
    }

    fn describe_rows(meta: &ModelMeta) -> String {
        match &meta.training {
            Some(t) => format!(
                "{} rows, validation fraction {}, seed {}",
                t.train_rows + t.validation_rows,
                t.config.validation_fraction,
                t.config.seed
            ),
            None => "no training record".into(),
        }
    }

    impl Ensemble {
        /// A loaded file's ensemble record must be usable as it is: 2 to [`MAX_MEMBERS`] members,
        /// none an ensemble itself, each valid, all judged on `first`'s validation rows.
        pub(in crate::model_file) fn check(&self, first: &ModelMeta) -> Result<(), String> {
            let count = self.others.len() + 1;
            if !(2..=MAX_MEMBERS).contains(&count) {
                return Err(format!(
                    "it claims an ensemble of {count} members (2 to {MAX_MEMBERS} are allowed)"
                ));
            }
            for (i, member) in self.others.iter().enumerate() {
                let which = i + 2;
                if member.ensemble.is_some() || member.format_version != SINGLE_MODEL_VERSION {
                    return Err(format!("its member {which} is not a single model"));
                }
                member
                    .check_member()
                    .map_err(|why| format!("its member {which}: {why}"))?;
                if validation_rows(member) != validation_rows(first) {
                    return Err(format!(
                        "its member {which} was validated on other rows than member 1"
                    ));
                }
            }
            let fraction = |v: Option<f64>| v.is_none_or(|v| (0.0..=1.0).contains(&v));
            if !fraction(self.val_accuracy) || self.val_loss.is_some_and(|l| l.is_nan() || l < 0.0)
            {
                return Err("its recorded ensemble metrics are out of range".into());
            }
            Ok(())
        }
    }

    fn prefix(member: usize) -> String {
        format!("member{}.", member + 1)
    }

    fn read_tensors(
        file_name: &str,
        bytes: &[u8],
    ) -> Result<Vec<burn_pack::Tensor>, ModelFileError> {
        let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
            .map_err(|e| ModelFileError::NotAModel(file_name.into(), format!("{e}")))?;
        reader.into_tensors().map_err(|e| {
            ModelFileError::Invalid(
                file_name.into(),
                format!("its weights cannot be read ({e})"),
            )
        })
    }

    /// A checked file's tensors, member by member (0-based), with the member prefix removed.
    pub(in crate::model_file) fn split(
        file_name: &str,
        meta: &ModelMeta,
        bytes: &[u8],
    ) -> Result<Vec<Vec<burn_pack::Tensor>>, ModelFileError> {
        let count = meta.member_count();
        let mut members: Vec<Vec<burn_pack::Tensor>> = (0..count).map(|_| Vec::new()).collect();
        for tensor in read_tensors(file_name, bytes)? {
            let (name, dtype, shape, id, data) = tensor.into_parts().map_err(|e| {
                ModelFileError::Invalid(
                    file_name.into(),
                    format!("its weights cannot be read ({e})"),
                )
            })?;
            let owner = (1..count).find(|&m| name.starts_with(&prefix(m)));
            let (member, path) = match owner {
                Some(m) => (m, name[prefix(m).len()..].to_string()),
                None if name.starts_with("member") => {
                    return Err(ModelFileError::Invalid(
                        file_name.into(),
                        format!("weight {name} belongs to no member of the model"),
                    ));
                }
                None => (0, name),
            };
            members[member].push(burn_pack::Tensor::new(path, dtype, shape, id, data));
        }
        Ok(members)
    }

    /// A single-model burnpack of some tensors (what Burn's record loader reads).
    pub(in crate::model_file) fn pack(
        file_name: &str,
        tensors: Vec<burn_pack::Tensor>,
        meta: &ModelMeta,
    ) -> Result<Vec<u8>, ModelFileError> {
        let json = serde_json::to_string(meta).expect("metadata is plain data");
        burn_pack::Writer::new(tensors)
            .with_metadata(METADATA_KEY, &json)
            .into_bytes()
            .map(|b| b.to_vec())
            .map_err(|e| ModelFileError::Invalid(file_name.into(), e.to_string()))
    }

    /// One ensemble file of every member of `files` (name, bytes; an ensemble counts as its
    /// members). Refused: fewer than 2 or more than [`MAX_MEMBERS`] members, members validated
    /// on different rows (the ensemble could not be judged on rows none of them trained on), the
    /// same training recipe twice (the same model: averaging it adds nothing).
    pub fn combine(files: &[(&str, &[u8])]) -> Result<Vec<u8>, ModelFileError> {
        let cannot = |why: String| Err(ModelFileError::CannotCombine(why));
        let mut members: Vec<(String, ModelMeta, Vec<burn_pack::Tensor>)> = Vec::new();
        for (file_name, bytes) in files {
            let meta = read_meta(file_name, bytes)?;
            check_weights(file_name, bytes)?;
            let tensors = split(file_name, &meta, bytes)?;
            for (member, tensors) in meta.members().into_iter().zip(tensors) {
                members.push((file_name.to_string(), member, tensors));
            }
        }
        if members.len() < 2 {
            return cannot(format!(
                "an ensemble needs at least 2 models, {} given. Choose two or more models trained \
                 with the same seed and a different member number.",
                members.len()
            ));
        }
        if members.len() > MAX_MEMBERS {
            return cannot(format!(
                "{} models given; an ensemble holds at most {MAX_MEMBERS}",
                members.len()
            ));
        }
        let (first_name, first, _) = &members[0];
        for (name, member, _) in &members[1..] {
            if validation_rows(member) != validation_rows(first) {
                return cannot(format!(
                    "{name} was validated on other rows ({}) than {first_name} ({}): an ensemble \
                     is judged on rows none of its members trained on. Train the members on the \
                     same train.csv with the same seed and validation fraction and a different \
                     member number.",
                    describe_rows(member),
                    describe_rows(first)
                ));
            }
        }
        for (i, (name, member, _)) in members.iter().enumerate() {
            for (other_name, other, _) in &members[..i] {
                // The same recipe builds the same model only with the same layers.
                let same_run = member.architecture == other.architecture
                    && match (&member.training, &other.training) {
                        (Some(a), Some(b)) => a.config == b.config,
                        (None, None) => true,
                        _ => false,
                    };
                if same_run {
                    return cannot(format!(
                        "{name} and {other_name} were trained the same way (same layers, recipe, \
                         seed and member number): they are the same model, and averaging it adds \
                         nothing. Train another member with a different member number."
                    ));
                }
            }
        }
        let mut metas = members.iter().map(|(_, meta, _)| meta.clone());
        let mut meta = metas.next().expect("at least two members");
        meta.ensemble = Some(Ensemble {
            others: metas.collect(),
            val_accuracy: None,
            val_loss: None,
        });
        meta.format_version = FORMAT_VERSION;
        let tensors = members
            .into_iter()
            .enumerate()
            .flat_map(|(m, (_, _, tensors))| {
                tensors.into_iter().map(move |tensor| {
                    if m == 0 {
                        return Ok(tensor);
                    }
                    let (name, dtype, shape, id, data) = tensor.into_parts()?;
                    let name = format!("{}{name}", prefix(m));
                    Ok(burn_pack::Tensor::new(name, dtype, shape, id, data))
                })
            })
            .collect::<Result<Vec<_>, burn_pack::Error>>()
            .map_err(|e| ModelFileError::CannotCombine(e.to_string()))?;
        pack("the ensemble", tensors, &meta)
    }

    /// The ensemble file with its own validation figures recorded (measured by the caller on
    /// the members' shared split).
    pub fn with_figures(
        file_name: &str,
        bytes: &[u8],
        val_accuracy: f64,
        val_loss: f64,
    ) -> Result<Vec<u8>, ModelFileError> {
        let mut meta = read_meta(file_name, bytes)?;
        let Some(ensemble) = meta.ensemble.as_mut() else {
            return Err(ModelFileError::CannotCombine(format!(
                "{file_name} is a single model, not an ensemble"
            )));
        };
        ensemble.val_accuracy = Some(val_accuracy);
        ensemble.val_loss = Some(val_loss);
        meta.check()
            .map_err(|why| ModelFileError::Invalid(file_name.into(), why))?;
        pack(file_name, read_tensors(file_name, bytes)?, &meta)
    }

    /// The file (a single model or an ensemble) with the TTA its validation chose recorded, so
    /// that "TTA on" predicts it with that choice.
    pub fn with_tta_choice(
        file_name: &str,
        bytes: &[u8],
        choice: TtaChoice,
    ) -> Result<Vec<u8>, ModelFileError> {
        let mut meta = read_meta(file_name, bytes)?;
        meta.tta = Some(choice);
        pack(file_name, read_tensors(file_name, bytes)?, &meta)
    }
}

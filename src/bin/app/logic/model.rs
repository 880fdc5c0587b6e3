//! The current model, as the worker describes it.

use digit_lab::protocol::{ModelInfo, ModelSource, Reply};

use super::{Feature, Incoming};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelState {
    pub current: Option<ModelInfo>,
    /// Counts the models made current, so views can follow a change of weights even when two
    /// models describe themselves alike.
    pub version: u64,
}

impl Feature for ModelState {
    fn apply(&mut self, incoming: &Incoming) -> bool {
        match incoming.reply {
            Reply::ModelReady(info) => {
                self.current = Some((**info).clone());
                self.version += 1;
                true
            }
            _ => false,
        }
    }
}

/// The name a download of this model gets.
pub fn file_name(info: &ModelInfo) -> String {
    match &info.source {
        ModelSource::File(name) => name.clone(),
        _ => {
            let name = info
                .meta
                .preset
                .map_or("model".to_string(), |p| p.to_string());
            format!("digit-lab-{name}.bpk")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use digit_lab::model::Preset;
    use digit_lab::model_file::ModelMeta;

    #[test]
    fn each_model_made_current_is_a_new_version() {
        let architecture = Preset::Tiny.architecture();
        let info = ModelInfo {
            source: ModelSource::Bundled,
            meta: ModelMeta::new(Some(Preset::Tiny), architecture.clone(), None),
            layers: architecture.summary().unwrap(),
            parameters: architecture.param_count(),
        };
        let mut state = ModelState::default();
        let ready = Reply::ModelReady(Box::new(info.clone()));
        assert!(state.apply(&Incoming::new(&ready, None, 0.0)));
        assert!(state.apply(&Incoming::new(&ready, None, 0.0)));
        assert_eq!(
            state.version, 2,
            "the same description twice is still a new model"
        );
        assert_eq!(state.current, Some(info));
        assert!(!state.apply(&Incoming::new(&Reply::Paused, None, 0.0)));
    }
}

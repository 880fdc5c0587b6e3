//! What the Insights tab shows: validation insights, the open confusion-matrix cell and the
//! activation grids of one image.

use digit_lab::protocol::{
    DataRole, DigitImage, Insights, LayerMaps, ModelInfo, ModelSource, Reply,
};
use digit_lab::training::events::TrainEvent;

use super::{Feature, Incoming};

/// Which model the worker computes with: the current one, or the run in progress (it answers
/// with the weights being trained). Results are stamped with it so they say what made them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Provenance {
    current: Option<String>,
    run_active: bool,
}

impl Provenance {
    /// The model a result arriving now was computed by.
    pub fn label(&self) -> String {
        match (&self.current, self.run_active) {
            (_, true) => "the model being trained".into(),
            (Some(current), false) => current.clone(),
            (None, false) => "no model".into(),
        }
    }

    /// Follow the replies that change the model; true when the model changed.
    pub fn follow(&mut self, reply: &Reply) -> bool {
        match reply {
            Reply::ModelReady(info) => {
                self.current = Some(model_label(info));
                true
            }
            Reply::Train(TrainEvent::Started(_)) => {
                self.run_active = true;
                true
            }
            Reply::Train(TrainEvent::Finished(_)) | Reply::WorkerCrashed { .. } => {
                let was = self.run_active;
                self.run_active = false;
                was
            }
            _ => false,
        }
    }
}

/// "tiny (trained in this tab)", "digit-lab (loaded from m.bpk)".
pub fn model_label(info: &ModelInfo) -> String {
    let preset = info
        .meta
        .preset
        .map_or("custom".to_string(), |p| p.id().to_string());
    let source = match &info.source {
        ModelSource::Bundled => "bundled".to_string(),
        ModelSource::Trained => "trained in this tab".to_string(),
        ModelSource::File(name) => format!("loaded from {name}"),
        ModelSource::Stored => "restored from this browser".to_string(),
    };
    format!("{preset} ({source})")
}

#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub truth: u8,
    pub predicted: u8,
    pub images: Vec<DigitImage>,
    pub total: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Activations {
    pub input: Vec<u8>,
    pub layers: Vec<LayerMaps>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct InsightState {
    pub insights: Option<Insights>,
    /// The model the insights were computed by.
    pub insights_model: String,
    pub model: Provenance,
    /// Counts the insights received (one per epoch while training).
    pub insights_version: u64,
    pub cell: Option<Cell>,
    pub activations: Option<Activations>,
    /// The first convolution's filters as images (`Some(None)`: the model has none).
    pub filters: Option<Option<LayerMaps>>,
    /// Activation grids and filter images received: what the live views redraw on, and what
    /// says an answer came back before the next refresh is asked for.
    pub refreshes: u64,
}

impl InsightState {
    pub fn close_cell(&mut self) {
        self.cell = None;
    }
}

impl Feature for InsightState {
    fn apply(&mut self, incoming: &Incoming) -> bool {
        let model_changed = self.model.follow(incoming.reply);
        match incoming.reply {
            Reply::Insights(insights) => {
                self.insights = Some((**insights).clone());
                self.insights_model = self.model.label();
                self.insights_version += 1;
            }
            Reply::ConfusionCell {
                truth,
                predicted,
                images,
                total,
            } => {
                self.cell = Some(Cell {
                    truth: *truth,
                    predicted: *predicted,
                    images: images.clone(),
                    total: *total,
                })
            }
            Reply::Activations { input, layers } => {
                self.activations = Some(Activations {
                    input: input.clone(),
                    layers: layers.clone(),
                });
                self.refreshes += 1;
            }
            Reply::Filters { layer } => {
                self.filters = Some(layer.clone());
                self.refreshes += 1;
            }
            // Validation rows refer to the train.csv they came from.
            Reply::DataLoaded(summary) if summary.role == DataRole::Train => {
                self.insights = None;
                self.cell = None;
            }
            // Everything here was computed by the previous model (the insights are recomputed
            // for the new one: the panel asks as soon as it is current).
            Reply::ModelReady(_) => {
                self.insights = None;
                self.cell = None;
                self.activations = None;
                self.filters = None;
            }
            _ => return model_changed,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use digit_lab::protocol::DataSummary;

    #[test]
    fn a_new_train_csv_clears_validation_views_but_not_activations() {
        let mut state = InsightState {
            cell: Some(Cell {
                truth: 3,
                predicted: 5,
                images: Vec::new(),
                total: 4,
            }),
            activations: Some(Activations {
                input: vec![0; 784],
                layers: Vec::new(),
            }),
            ..InsightState::default()
        };
        let test = Reply::DataLoaded(DataSummary {
            role: DataRole::Test,
            file_name: "test.csv".into(),
            rows: 3,
            label_counts: None,
            seconds: 0.0,
        });
        assert!(!state.apply(&Incoming::new(&test, None, 0.0)));
        assert!(state.cell.is_some());
        let train = Reply::DataLoaded(DataSummary {
            role: DataRole::Train,
            file_name: "train.csv".into(),
            rows: 3,
            label_counts: None,
            seconds: 0.0,
        });
        assert!(state.apply(&Incoming::new(&train, None, 0.0)));
        assert_eq!(state.cell, None);
        assert!(state.activations.is_some());
    }

    #[test]
    fn a_new_model_clears_what_the_old_one_computed_and_results_name_their_model() {
        use digit_lab::model::Preset;
        use digit_lab::model_file::ModelMeta;
        use digit_lab::protocol::ModelInfo;

        let info = |source| {
            let architecture = Preset::Tiny.architecture();
            Reply::ModelReady(Box::new(ModelInfo {
                source,
                meta: ModelMeta::new(Some(Preset::Tiny), architecture.clone(), None),
                layers: architecture.summary().unwrap(),
                parameters: architecture.param_count(),
            }))
        };
        let mut state = InsightState::default();
        state.apply(&Incoming::new(&info(ModelSource::Bundled), None, 0.0));
        let insights = Reply::Insights(Box::default());
        state.apply(&Incoming::new(&insights, None, 0.0));
        assert_eq!(state.insights_model, "tiny (bundled)");
        state.activations = Some(Activations {
            input: vec![0; 784],
            layers: Vec::new(),
        });
        let filters = Reply::Filters {
            layer: Some(LayerMaps {
                name: "conv2d_1".into(),
                shape: "8 filters of 3×3".into(),
                count: 8,
                height: 3,
                width: 3,
                values: vec![128; 72],
            }),
        };
        assert!(state.apply(&Incoming::new(&filters, None, 0.0)));
        assert_eq!(state.refreshes, 1);
        assert!(state.filters.as_ref().is_some_and(Option::is_some));
        let file = info(ModelSource::File("m.bpk".into()));
        assert!(state.apply(&Incoming::new(&file, None, 0.0)));
        assert_eq!((&state.insights, &state.activations), (&None, &None));
        assert_eq!(state.filters, None);
        state.apply(&Incoming::new(&insights, None, 0.0));
        assert_eq!(state.insights_model, "tiny (loaded from m.bpk)");
    }
}

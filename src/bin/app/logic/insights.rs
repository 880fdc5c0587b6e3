//! What the Insights tab shows: validation insights, the open confusion-matrix cell and the
//! activation grids of one image.

use digit_lab::protocol::{DataRole, DigitImage, Insights, LayerMaps, Reply};

use super::{Feature, Incoming};

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
    /// Counts the insights received (one per epoch while training).
    pub insights_version: u64,
    pub cell: Option<Cell>,
    pub activations: Option<Activations>,
}

impl InsightState {
    pub fn close_cell(&mut self) {
        self.cell = None;
    }
}

impl Feature for InsightState {
    fn apply(&mut self, incoming: &Incoming) -> bool {
        match incoming.reply {
            Reply::Insights(insights) => {
                self.insights = Some((**insights).clone());
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
                })
            }
            // Validation rows refer to the train.csv they came from.
            Reply::DataLoaded(summary) if summary.role == DataRole::Train => {
                self.insights = None;
                self.cell = None;
            }
            // Another model's activations would be someone else's.
            Reply::ModelReady(_) => self.activations = None,
            _ => return false,
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
}

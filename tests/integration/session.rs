//! The worker's session driven natively with the commands the page sends: the same code the
//! browser runs, checked reply by reply.

use crate::common;

use digit_lab::augment::AugmentConfig;
use digit_lab::model::Preset;
use digit_lab::protocol::{
    Command, DataRole, Failure, ImageRef, ModelSource, Operation, Prerequisite, Problem, Reply,
};
use digit_lab::session::Session;
use digit_lab::training::events::TrainEvent;

pub(crate) struct Driver {
    session: Session,
    replies: Vec<(Reply, Option<Vec<u8>>)>,
}

impl Driver {
    pub(crate) fn new() -> Self {
        let mut driver = Self {
            session: Session::new(),
            replies: Vec::new(),
        };
        driver.send(Command::Init { force_cpu: true }, None);
        driver
    }

    /// Send a command and return the replies it produced.
    pub(crate) fn send(
        &mut self,
        command: Command,
        bytes: Option<Vec<u8>>,
    ) -> Vec<(Reply, Option<Vec<u8>>)> {
        let mut out = Vec::new();
        pollster::block_on(
            self.session
                .handle(command, bytes, &mut |r, b| out.push((r, b))),
        );
        self.replies.extend(out.clone());
        out
    }

    /// Run training steps until the run is over, like the worker's loop.
    fn train_to_end(&mut self) -> Vec<(Reply, Option<Vec<u8>>)> {
        let mut out = Vec::new();
        while self.session.wants_training_step() {
            pollster::block_on(self.session.train_step(&mut |r, b| out.push((r, b))));
        }
        out
    }
}

pub(crate) fn load_train(driver: &mut Driver, rows: usize) {
    let bytes = common::csv_head("train.csv.gz", rows);
    let replies = driver.send(
        Command::LoadCsv {
            role: DataRole::Train,
            file_name: "train.csv".into(),
        },
        Some(bytes),
    );
    match &replies.last().unwrap().0 {
        Reply::DataLoaded(summary) => {
            assert_eq!(summary.rows, rows);
            assert_eq!(summary.label_counts.unwrap().iter().sum::<usize>(), rows);
        }
        other => panic!("expected DataLoaded, got {other:?}"),
    }
}

fn quick_config() -> digit_lab::training::config::TrainConfig {
    let mut config = Preset::Small.recipe();
    config.epochs = 2;
    config.early_stopping = None;
    config.augmentation = AugmentConfig::default();
    config
}

#[test]
fn load_train_inspect_predict_like_the_page_does() {
    let mut driver = Driver::new();
    assert!(matches!(
        &driver.replies[0].0,
        Reply::DeviceReady {
            fallback_reason: Some(_),
            ..
        }
    ));
    load_train(&mut driver, 600);

    // A malformed file is reported with its line and column, and the loaded data stays.
    let mut bad = common::csv_head("train.csv.gz", 3);
    bad.extend_from_slice(b"7,0,0,300\n");
    let replies = driver.send(
        Command::LoadCsv {
            role: DataRole::Train,
            file_name: "broken.csv".into(),
        },
        Some(bad),
    );
    match &replies.last().unwrap().0 {
        Reply::Error(Failure {
            operation: Operation::LoadData(DataRole::Train),
            problem: Problem::Csv(error),
        }) => {
            assert_eq!(error.file, "broken.csv");
            assert_eq!(error.line, Some(5));
        }
        other => panic!("expected a CSV failure, got {other:?}"),
    }
    let samples = driver.send(
        Command::Samples {
            role: DataRole::Train,
            count: 12,
            seed: 1,
        },
        None,
    );
    match &samples[0].0 {
        Reply::Samples { images, .. } => {
            assert_eq!(images.len(), 12);
            assert!(images.iter().all(|i| i.row < 600 && i.pixels.len() == 784));
        }
        other => panic!("{other:?}"),
    }
    let preview = driver.send(
        Command::AugmentPreview {
            config: AugmentConfig::default(),
            count: 4,
            seed: 3,
        },
        None,
    );
    match &preview[0].0 {
        Reply::AugmentPreview {
            originals,
            augmented,
        } => {
            assert_eq!(originals.len(), 4);
            assert_ne!(originals[0].pixels, augmented[0].pixels);
        }
        other => panic!("{other:?}"),
    }

    // Train; the page receives every event, insights per epoch and checkpoint files.
    let replies = driver.send(
        Command::Train {
            preset: Preset::Small,
            config: quick_config(),
        },
        None,
    );
    assert!(replies.is_empty(), "{replies:?}");
    let replies = driver.train_to_end();
    let events: Vec<&TrainEvent> = replies
        .iter()
        .filter_map(|(r, _)| match r {
            Reply::Train(e) => Some(e),
            _ => None,
        })
        .collect();
    assert!(matches!(events[0], TrainEvent::Started(_)));
    assert!(matches!(events.last().unwrap(), TrainEvent::Finished(_)));
    let insights: Vec<_> = replies
        .iter()
        .filter_map(|(r, _)| match r {
            Reply::Insights(i) => Some(i),
            _ => None,
        })
        .collect();
    assert_eq!(insights.len(), 2, "one per epoch");
    let last = insights.last().unwrap();
    assert_eq!(last.confusion.total() as usize, last.validation_rows);
    assert_eq!(
        last.report.classes.iter().map(|c| c.support).sum::<u32>() as usize,
        last.validation_rows
    );
    let margins: Vec<f32> = last
        .errors
        .iter()
        .map(|e| e.prediction.error_margin())
        .collect();
    assert!(margins.windows(2).all(|w| w[0] >= w[1]));
    assert!(
        replies
            .iter()
            .any(|(r, b)| matches!(r, Reply::Checkpoint { .. }) && b.is_some())
    );
    // The run's best weights become current, and the file comes with them.
    let final_file = match replies
        .iter()
        .rev()
        .find(|(r, _)| matches!(r, Reply::ModelReady(_)))
    {
        Some((Reply::ModelReady(info), Some(file))) if info.source == ModelSource::Trained => {
            file.clone()
        }
        other => panic!("expected the trained model with its file, got {other:?}"),
    };

    // A confusion cell lists exactly its digits.
    let (truth, predicted) = last
        .errors
        .first()
        .map_or((0, 0), |e| (e.prediction.truth, e.prediction.predicted));
    let cell = driver.send(
        Command::ConfusionCell {
            truth,
            predicted,
            limit: 100,
        },
        None,
    );
    match &cell[0].0 {
        Reply::ConfusionCell { images, total, .. } => {
            assert_eq!(
                *total as u32,
                last.confusion.counts[truth as usize][predicted as usize]
            );
            assert_eq!(images.len(), (*total).min(100));
        }
        other => panic!("{other:?}"),
    }

    // Activation grids: one per conv/pool layer of the preset, with as many maps as filters.
    let grids = driver.send(
        Command::Activations {
            image: ImageRef::Validation(0),
        },
        None,
    );
    match &grids[0].0 {
        Reply::Activations { layers, input } => {
            assert_eq!(input.len(), 784);
            let names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
            assert_eq!(names, ["conv2d_1", "conv2d_2", "max_pooling2d_1"]);
            assert_eq!((layers[0].count, layers[0].height), (64, 26));
            assert_eq!((layers[2].count, layers[2].height), (32, 12));
            assert!(
                layers
                    .iter()
                    .all(|l| l.values.len() == l.count * l.height * l.width)
            );
        }
        other => panic!("{other:?}"),
    }

    // The first layer's filters: one 3x3 image per kernel of conv2d_1, stretched to 0..255.
    match &driver.send(Command::Filters, None)[0].0 {
        Reply::Filters { layer: Some(layer) } => {
            assert_eq!(layer.name, "conv2d_1");
            assert_eq!((layer.count, layer.height, layer.width), (64, 3, 3));
            for filter in layer.values.chunks(9) {
                assert!(filter.contains(&0) && filter.contains(&255), "{filter:?}");
            }
        }
        other => panic!("{other:?}"),
    }

    // Classify a drawing-sized input; probabilities sum to one.
    let digit = common::train_digits(1).image(0).to_vec();
    let answer = driver.send(Command::Classify { pixels: digit }, None);
    match &answer[0].0 {
        Reply::Classification { probabilities, .. } => {
            assert_eq!(probabilities.len(), 10);
            assert!((probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        }
        other => panic!("{other:?}"),
    }

    // Predict a test slice into a submission.
    let test = common::csv_head("test.csv.gz", 120);
    driver.send(
        Command::LoadCsv {
            role: DataRole::Test,
            file_name: "test.csv".into(),
        },
        Some(test),
    );
    let predicted = driver.send(Command::PredictTest { tta: true }, None);
    let (reply, bytes) = predicted.last().unwrap();
    match reply {
        Reply::Predictions { preview, rows } => {
            assert_eq!(*rows, 120);
            assert_eq!(preview.len(), 18);
            let csv = String::from_utf8(bytes.clone().unwrap()).unwrap();
            assert!(csv.starts_with("ImageId,Label\n1,"));
            assert_eq!(csv.lines().count(), 121);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        predicted
            .iter()
            .any(|(r, _)| matches!(r, Reply::PredictProgress { .. }))
    );

    // The exported file loads back in a fresh session.
    let mut fresh = Driver::new();
    let loaded = fresh.send(
        Command::LoadModel {
            file_name: "digit-lab-small.bpk".into(),
            source: ModelSource::File("digit-lab-small.bpk".into()),
        },
        Some(final_file),
    );
    match &loaded[0].0 {
        Reply::ModelReady(info) => {
            assert_eq!(info.meta.preset, Some(Preset::Small));
            assert_eq!(info.parameters, 65_194);
            assert!(info.meta.training.as_ref().unwrap().val_accuracy.is_some());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn commands_that_cannot_run_say_why() {
    let mut driver = Driver::new();
    let replies = driver.send(
        Command::Train {
            preset: Preset::Small,
            config: quick_config(),
        },
        None,
    );
    let needs = |operation, prerequisite| Reply::Error(Failure::needs(operation, prerequisite));
    assert_eq!(
        replies[0].0,
        needs(Operation::Train, Prerequisite::TrainData)
    );
    let replies = driver.send(Command::PredictTest { tta: false }, None);
    assert_eq!(
        replies[0].0,
        needs(Operation::PredictTest, Prerequisite::TestData)
    );
    let replies = driver.send(
        Command::Classify {
            pixels: vec![0; 784],
        },
        None,
    );
    assert_eq!(
        replies[0].0,
        needs(Operation::Classify, Prerequisite::Model)
    );
    let replies = driver.send(
        Command::LoadModel {
            file_name: "junk.bpk".into(),
            source: ModelSource::File("junk.bpk".into()),
        },
        Some(b"not a model".to_vec()),
    );
    match &replies[0].0 {
        Reply::Error(Failure {
            operation: Operation::LoadModel,
            problem: Problem::ModelFile(error),
        }) => assert!(error.to_string().contains("junk.bpk"), "{error}"),
        other => panic!("expected a model-file failure, got {other:?}"),
    }
}

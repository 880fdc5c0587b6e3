//! The loaded CSV files: their summaries, loading progress, the latest parse error, samples and
//! the augmentation preview.

use digit_lab::data::csv::{CsvError, Phase};
use digit_lab::protocol::{DataRole, DataSummary, DigitImage, Failure, Operation, Problem, Reply};

use super::{Feature, Incoming};

/// A slice of Kaggle's files shipped in `assets/` ("Try with sample data"): the first rows of
/// train.csv and test.csv, gzipped, fetched only when asked for. The page loads them through the
/// same path as a user's file, named as below, which is how it knows a summary is the sample's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleFile {
    pub role: DataRole,
    pub url: &'static str,
    pub file_name: &'static str,
    pub rows: usize,
}

pub const SAMPLE_FILES: [SampleFile; 2] = [
    SampleFile {
        role: DataRole::Train,
        url: "./assets/sample-train.csv.gz",
        file_name: "sample-train.csv.gz",
        rows: 5_000,
    },
    SampleFile {
        role: DataRole::Test,
        url: "./assets/sample-test.csv.gz",
        file_name: "sample-test.csv.gz",
        rows: 1_000,
    },
];

/// The rows of Kaggle's full files, for saying how much of them a sample is.
const FULL_ROWS: [usize; 2] = [42_000, 28_000];

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LoadStage {
    Reading,
    Decompressing,
    Parsing,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoadProgress {
    pub stage: LoadStage,
    pub fraction: f64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct DataState {
    pub train: Option<DataSummary>,
    pub test: Option<DataSummary>,
    train_load: Option<LoadProgress>,
    test_load: Option<LoadProgress>,
    /// The latest file that did not parse; what was loaded before stays.
    pub error: Option<(DataRole, CsvError)>,
    pub samples: Vec<DigitImage>,
    /// (originals, augmented).
    pub augment_preview: Option<(Vec<DigitImage>, Vec<DigitImage>)>,
}

impl DataState {
    pub fn summary(&self, role: DataRole) -> Option<&DataSummary> {
        match role {
            DataRole::Train => self.train.as_ref(),
            DataRole::Test => self.test.as_ref(),
        }
    }

    pub fn load(&self, role: DataRole) -> Option<LoadProgress> {
        match role {
            DataRole::Train => self.train_load,
            DataRole::Test => self.test_load,
        }
    }

    /// The page is reading a file from disk (before the worker sees it).
    pub fn set_load(&mut self, role: DataRole, progress: Option<LoadProgress>) {
        match role {
            DataRole::Train => self.train_load = progress,
            DataRole::Test => self.test_load = progress,
        }
    }

    /// A new worker has none of the files: they show as loaded again once it parsed the
    /// ones replayed to it (a file being read or parsed died with the old worker).
    pub fn worker_replaced(&mut self) {
        self.train = None;
        self.test = None;
        self.train_load = None;
        self.test_load = None;
    }

    pub fn is_empty(&self) -> bool {
        self.train.is_none() && self.test.is_none()
    }

    /// Whether what is loaded for `role` is the built-in sample.
    pub fn is_sample(&self, role: DataRole) -> bool {
        let sample = &SAMPLE_FILES[role_index(role)];
        self.summary(role)
            .is_some_and(|s| s.file_name == sample.file_name && s.rows == sample.rows)
    }

    /// What the page says while any of the loaded data is the sample: what it is and how to get
    /// the real thing.
    pub fn sample_notice(&self) -> Option<String> {
        let parts: Vec<String> = SAMPLE_FILES
            .iter()
            .filter(|f| self.is_sample(f.role))
            .map(|f| {
                let (of, kind) = match f.role {
                    DataRole::Train => ("train.csv", "labelled"),
                    DataRole::Test => ("test.csv", "unlabelled"),
                };
                let full = FULL_ROWS[role_index(f.role)];
                format!(
                    "{} {kind} digits (the first rows of Kaggle's {of}, which has {})",
                    thousands(f.rows),
                    thousands(full)
                )
            })
            .collect();
        (!parts.is_empty()).then(|| {
            format!(
                "This is a sample: {}. Everything works on it, but a model trained on it is \
                 weaker and Kaggle accepts only a submission of all 28,000 test digits. For the \
                 real thing, download train.csv and test.csv from \
                 kaggle.com/competitions/digit-recognizer/data and load them above.",
                parts.join(" and ")
            )
        })
    }
}

fn role_index(role: DataRole) -> usize {
    match role {
        DataRole::Train => 0,
        DataRole::Test => 1,
    }
}

/// "42,000".
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Feature for DataState {
    fn apply(&mut self, incoming: &Incoming) -> bool {
        match incoming.reply {
            Reply::LoadProgress { role, progress } => {
                let stage = match progress.phase {
                    Phase::Decompressing => LoadStage::Decompressing,
                    Phase::Parsing => LoadStage::Parsing,
                };
                let fraction = progress.done as f64 / progress.total.max(1) as f64;
                self.set_load(*role, Some(LoadProgress { stage, fraction }));
            }
            Reply::DataLoaded(summary) => {
                let role = summary.role;
                self.set_load(role, None);
                if self.error.as_ref().is_some_and(|(r, _)| *r == role) {
                    self.error = None;
                }
                match role {
                    DataRole::Train => self.train = Some(summary.clone()),
                    DataRole::Test => self.test = Some(summary.clone()),
                }
            }
            Reply::Error(Failure {
                operation: Operation::LoadData(role),
                problem,
            }) => {
                self.set_load(*role, None);
                if let Problem::Csv(error) = problem {
                    self.error = Some((*role, (**error).clone()));
                }
            }
            Reply::WorkerCrashed { .. } => self.worker_replaced(),
            Reply::Samples { images, .. } => self.samples = images.clone(),
            Reply::AugmentPreview {
                originals,
                augmented,
            } => self.augment_preview = Some((originals.clone(), augmented.clone())),
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use digit_lab::data::csv::{CsvKind, Progress, parse_csv};

    fn summary(role: DataRole, rows: usize) -> Reply {
        named(role, "train.csv", rows)
    }

    fn named(role: DataRole, file_name: &str, rows: usize) -> Reply {
        Reply::DataLoaded(DataSummary {
            role,
            file_name: file_name.into(),
            rows,
            label_counts: None,
            seconds: 0.1,
        })
    }

    #[test]
    fn the_sample_is_named_while_it_is_loaded_and_not_after_the_real_files() {
        let mut data = DataState::default();
        assert_eq!(data.sample_notice(), None);
        for f in SAMPLE_FILES {
            data.apply(&Incoming::new(
                &named(f.role, f.file_name, f.rows),
                None,
                0.0,
            ));
        }
        assert!(data.is_sample(DataRole::Train) && data.is_sample(DataRole::Test));
        let notice = data.sample_notice().expect("the sample is loaded");
        assert!(notice.contains("5,000 labelled digits"), "{notice}");
        assert!(notice.contains("1,000 unlabelled digits"), "{notice}");
        assert!(
            notice.contains("42,000") && notice.contains("28,000"),
            "{notice}"
        );

        data.apply(&Incoming::new(
            &named(DataRole::Test, "test.csv", 28_000),
            None,
            0.0,
        ));
        assert!(!data.is_sample(DataRole::Test));
        let notice = data.sample_notice().expect("train.csv is still the sample");
        assert!(!notice.contains("unlabelled"), "{notice}");

        // A user's own file that happens to share the name is not the sample.
        let renamed = named(DataRole::Train, "sample-train.csv.gz", 120);
        data.apply(&Incoming::new(&renamed, None, 0.0));
        assert_eq!(data.sample_notice(), None);
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn a_bad_file_keeps_what_was_loaded_and_a_good_one_clears_the_error() {
        let mut data = DataState::default();
        data.apply(&Incoming::new(&summary(DataRole::Train, 1000), None, 0.0));
        let progress = Reply::LoadProgress {
            role: DataRole::Train,
            progress: Progress {
                phase: Phase::Parsing,
                done: 50,
                total: 200,
            },
        };
        data.apply(&Incoming::new(&progress, None, 0.0));
        assert_eq!(data.load(DataRole::Train).map(|p| p.fraction), Some(0.25));

        let error = parse_csv(
            "bad.csv",
            b"label,pixel0\n1,300\n",
            Some(CsvKind::Train),
            &mut |_| {},
        )
        .expect_err("300 is out of range");
        let failed = Reply::Error(Failure::new(
            Operation::LoadData(DataRole::Train),
            Problem::Csv(Box::new(error.clone())),
        ));
        data.apply(&Incoming::new(&failed, None, 0.0));
        assert_eq!(data.error, Some((DataRole::Train, error)));
        assert_eq!(data.load(DataRole::Train), None);
        assert_eq!(data.train.as_ref().map(|s| s.rows), Some(1000), "kept");

        data.apply(&Incoming::new(&summary(DataRole::Test, 10), None, 0.0));
        assert!(
            data.error.is_some(),
            "a test.csv does not clear train.csv's error"
        );
        data.apply(&Incoming::new(&summary(DataRole::Train, 500), None, 0.0));
        assert_eq!(data.error, None);
        assert_eq!(data.summary(DataRole::Train).map(|s| s.rows), Some(500));
    }
}

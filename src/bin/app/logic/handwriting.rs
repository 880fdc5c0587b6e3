//! The user's own handwriting: drawings labelled in the Draw tab, kept in this browser, with
//! the current model's answers and its accuracy on them; exported and imported as a CSV in
//! Kaggle's train.csv format (`label,pixel0,…,pixel783`), so the set can be shared or trained
//! on like any other labelled file. Plain Rust; `handwriting_panel.rs` stores and shows it.

use digit_lab::data::csv::{CsvKind, IMAGE_PIXELS, parse_csv};
use digit_lab::model::NUM_CLASSES;
use digit_lab::protocol::Reply;

use super::{Feature, Incoming};

/// Most drawings kept (about 3 KB each in storage): far more than anyone labels by hand.
pub const MAX_DRAWINGS: usize = 2_000;

#[derive(Clone, Debug, PartialEq)]
pub struct Drawing {
    pub label: u8,
    /// 28×28 grey levels as the model sees them (preprocessed like MNIST).
    pub pixels: Vec<u8>,
}

/// What the current model answers for one drawing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Answer {
    pub predicted: u8,
    pub confidence: f32,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct HandwritingState {
    pub drawings: Vec<Drawing>,
    /// The current model's answers, one per drawing, when they are known for this set and
    /// model (cleared when either changes).
    pub answers: Option<Vec<Answer>>,
    /// The latest request for answers and the images it sent: an answer to an older one (or
    /// none, when a request failed) never lands on the wrong drawings.
    asked: Option<(u64, Vec<Vec<u8>>)>,
    requests: u64,
}

impl HandwritingState {
    /// Keep a labelled drawing; refused with the reason when it cannot be kept.
    pub fn add(&mut self, label: u8, pixels: Vec<u8>) -> Result<(), String> {
        if usize::from(label) >= NUM_CLASSES {
            return Err(format!("{label} is not a digit (0–9)"));
        }
        if pixels.len() != IMAGE_PIXELS {
            return Err("draw a digit first: the canvas is empty".into());
        }
        if self.drawings.len() >= MAX_DRAWINGS {
            return Err(format!(
                "your set already holds {MAX_DRAWINGS} drawings: delete some, or export it"
            ));
        }
        self.drawings.push(Drawing { label, pixels });
        self.answers = None;
        Ok(())
    }

    pub fn remove(&mut self, index: usize) {
        if index < self.drawings.len() {
            self.drawings.remove(index);
            self.answers = None;
        }
    }

    /// The set as stored, nothing asked yet.
    pub fn with_drawings(drawings: Vec<Drawing>) -> Self {
        Self {
            drawings,
            ..Self::default()
        }
    }

    /// The images to classify, in order (answers come back in the same order).
    pub fn images(&self) -> Vec<Vec<u8>> {
        self.drawings.iter().map(|d| d.pixels.clone()).collect()
    }

    /// The request for the current model's answers: its id and images (`None`: the set is
    /// empty); it replaces any request still unanswered.
    pub fn asking(&mut self) -> Option<(u64, Vec<Vec<u8>>)> {
        if self.drawings.is_empty() {
            return None;
        }
        self.requests += 1;
        let request = (self.requests, self.images());
        self.asked = Some(request.clone());
        Some(request)
    }

    /// The model's answers for `images`, ignored if the set changed since it was asked.
    pub fn answered(&mut self, images: &[Vec<u8>], answers: Vec<Answer>) {
        let same = images.len() == self.drawings.len()
            && images
                .iter()
                .zip(&self.drawings)
                .all(|(i, d)| *i == d.pixels);
        if same && answers.len() == images.len() {
            self.answers = Some(answers);
        }
    }

    /// (right, total) of the current model on the set, once its answers are known.
    pub fn accuracy(&self) -> Option<(usize, usize)> {
        let answers = self.answers.as_ref()?;
        let right = answers
            .iter()
            .zip(&self.drawings)
            .filter(|(a, d)| a.predicted == d.label)
            .count();
        Some((right, self.drawings.len()))
    }

    /// The set in Kaggle's train.csv format.
    pub fn to_csv(&self) -> String {
        let mut csv = String::from("label");
        for i in 0..IMAGE_PIXELS {
            csv.push_str(&format!(",pixel{i}"));
        }
        csv.push('\n');
        for d in &self.drawings {
            csv.push_str(&d.label.to_string());
            for p in &d.pixels {
                csv.push(',');
                csv.push_str(&p.to_string());
            }
            csv.push('\n');
        }
        csv
    }

    /// Add the rows of a train.csv-format file (an export of this set, or any slice of Kaggle's
    /// train.csv); returns how many were added. Nothing is added when the file is refused, or
    /// when it would take the set over [`MAX_DRAWINGS`].
    pub fn import_csv(&mut self, file_name: &str, bytes: &[u8]) -> Result<usize, String> {
        let parsed = parse_csv(file_name, bytes, Some(CsvKind::Train), &mut |_| {})
            .map_err(|e| e.to_string())?;
        if self.drawings.len() + parsed.rows > MAX_DRAWINGS {
            return Err(format!(
                "{file_name} has {} digits and your set {}: together more than the {MAX_DRAWINGS} \
                 kept in the browser",
                parsed.rows,
                self.drawings.len()
            ));
        }
        let rows = parsed.pixels.chunks(IMAGE_PIXELS).zip(&parsed.labels);
        self.drawings.extend(rows.map(|(pixels, &label)| Drawing {
            label,
            pixels: pixels.to_vec(),
        }));
        self.answers = None;
        Ok(parsed.rows)
    }
}

impl Feature for HandwritingState {
    fn apply(&mut self, incoming: &Incoming) -> bool {
        match incoming.reply {
            Reply::ClassifiedMany { id, probabilities } => {
                let Some((_, images)) = self.asked.take_if(|(asked, _)| asked == id) else {
                    return false;
                };
                let answers = probabilities
                    .chunks(NUM_CLASSES)
                    .map(|p| {
                        let (class, &confidence) = p
                            .iter()
                            .enumerate()
                            .max_by(|a, b| a.1.total_cmp(b.1))
                            .unwrap_or((0, &0.0));
                        Answer {
                            predicted: class as u8,
                            confidence,
                        }
                    })
                    .collect();
                self.answered(&images, answers);
                true
            }
            // Answers of the previous model; the panel asks the new one.
            Reply::ModelReady(_) => {
                self.answers = None;
                true
            }
            // The old worker will not answer what it was asked.
            Reply::WorkerCrashed { .. } => {
                self.asked = None;
                false
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(seed: u8) -> Vec<u8> {
        (0..IMAGE_PIXELS)
            .map(|i| (i as u8).wrapping_mul(seed))
            .collect()
    }

    #[test]
    fn drawings_are_kept_with_their_labels_and_bad_ones_refused() {
        let mut set = HandwritingState::default();
        set.add(7, image(3)).unwrap();
        assert!(set.add(10, image(3)).unwrap_err().contains("not a digit"));
        assert!(
            set.add(1, Vec::new())
                .unwrap_err()
                .contains("canvas is empty")
        );
        assert_eq!(set.drawings.len(), 1);
        set.remove(5);
        assert_eq!(set.drawings.len(), 1, "out of range: nothing removed");
        set.remove(0);
        assert!(set.drawings.is_empty());
    }

    #[test]
    fn accuracy_counts_the_models_answers_for_this_very_set() {
        let mut set = HandwritingState::default();
        set.add(1, image(1)).unwrap();
        set.add(2, image(2)).unwrap();
        assert_eq!(set.accuracy(), None, "not answered yet");
        let asked = set.images();
        let answer = |predicted| Answer {
            predicted,
            confidence: 0.9,
        };
        set.answered(&asked, vec![answer(1), answer(7)]);
        assert_eq!(set.accuracy(), Some((1, 2)));
        set.add(3, image(5)).unwrap();
        assert_eq!(set.accuracy(), None, "a new drawing needs new answers");
        set.answered(&asked, vec![answer(1), answer(2)]);
        assert_eq!(set.accuracy(), None, "answers for the old set are dropped");
    }

    #[test]
    fn the_workers_answers_are_matched_to_what_was_asked() {
        let mut set = HandwritingState::default();
        assert_eq!(set.asking(), None, "nothing to ask");
        set.add(3, image(1)).unwrap();
        set.add(8, image(2)).unwrap();
        let (first, _) = set.asking().unwrap();
        let (second, images) = set.asking().unwrap();
        assert_eq!(images.len(), 2);
        let mut probabilities = vec![0.0f32; 20];
        probabilities[3] = 0.9;
        probabilities[10 + 5] = 0.6;
        let stale = Reply::ClassifiedMany {
            id: first,
            probabilities: vec![0.1; 20],
        };
        assert!(
            !set.apply(&Incoming::new(&stale, None, 0.0)),
            "an older request's answer"
        );
        assert_eq!(set.answers, None);
        let reply = Reply::ClassifiedMany {
            id: second,
            probabilities,
        };
        assert!(set.apply(&Incoming::new(&reply, None, 0.0)));
        let answers = set.answers.clone().unwrap();
        assert_eq!((answers[0].predicted, answers[1].predicted), (3, 5));
        assert!((answers[1].confidence - 0.6).abs() < 1e-6);
        assert_eq!(set.accuracy(), Some((1, 2)));
        assert!(
            !set.apply(&Incoming::new(&reply, None, 0.0)),
            "nothing was asked"
        );
    }

    #[test]
    fn the_csv_export_reads_back_as_the_same_set() {
        let mut set = HandwritingState::default();
        set.add(4, image(7)).unwrap();
        set.add(9, image(11)).unwrap();
        let csv = set.to_csv();
        let header = csv.lines().next().unwrap();
        assert!(header.starts_with("label,pixel0,pixel1,") && header.ends_with(",pixel783"));
        assert_eq!(csv.lines().count(), 3);
        let mut copy = HandwritingState::default();
        assert_eq!(copy.import_csv("mine.csv", csv.as_bytes()), Ok(2));
        assert_eq!(copy.drawings, set.drawings);
        // A file of the wrong kind is refused with the parser's reason; nothing is added.
        let test_csv = csv.replacen("label,", "", 1);
        assert!(copy.import_csv("test.csv", test_csv.as_bytes()).is_err());
        assert_eq!(copy.drawings.len(), 2);
    }
}

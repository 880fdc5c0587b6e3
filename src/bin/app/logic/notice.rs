//! The banner: the latest failure to show, until dismissed or replaced.

use digit_lab::protocol::{Failure, Operation, Problem, Reply};

use super::{Feature, Incoming};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Notice {
    pub latest: Option<Failure>,
}

impl Notice {
    /// A failure found by the page itself (settings that do not parse, a download refused).
    pub fn report(&mut self, failure: Failure) {
        self.latest = Some(failure);
    }

    pub fn dismiss(&mut self) {
        self.latest = None;
    }
}

impl Feature for Notice {
    fn apply(&mut self, incoming: &Incoming) -> bool {
        match incoming.reply {
            // A file that does not parse is explained beside its file input (the data panel).
            Reply::Error(Failure {
                operation: Operation::LoadData(_),
                problem: Problem::Csv(_),
            }) => return false,
            Reply::Error(failure) => self.latest = Some(failure.clone()),
            Reply::WorkerCrashed { message } => {
                self.latest = Some(Failure::new(
                    Operation::Worker,
                    Problem::WorkerCrashed(message.clone()),
                ))
            }
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use digit_lab::data::csv::{CsvKind, parse_csv};
    use digit_lab::protocol::{DataRole, Prerequisite};

    #[test]
    fn failures_show_except_a_csv_error_which_its_panel_shows() {
        let mut notice = Notice::default();
        let error = parse_csv("t.csv", b"label\n", Some(CsvKind::Train), &mut |_| {}).unwrap_err();
        let csv = Reply::Error(Failure::new(
            Operation::LoadData(DataRole::Train),
            Problem::Csv(Box::new(error)),
        ));
        assert!(!notice.apply(&Incoming::new(&csv, None, 0.0)));
        let failure = Failure::needs(Operation::Classify, Prerequisite::Model);
        notice.apply(&Incoming::new(&Reply::Error(failure.clone()), None, 0.0));
        assert_eq!(notice.latest, Some(failure));
        let crash = Reply::WorkerCrashed {
            message: "RuntimeError: unreachable".into(),
        };
        notice.apply(&Incoming::new(&crash, None, 0.0));
        let shown = notice.latest.as_ref().unwrap().to_string();
        assert!(shown.starts_with("Worker: the background worker stopped (RuntimeError"));
        notice.dismiss();
        assert_eq!(notice.latest, None);
    }
}

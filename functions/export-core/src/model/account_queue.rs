//! The account's export queue: what is ahead of a waiting export (the API shows it; a
//! queue-wait notification names it). HealthLake runs one export job at a time per
//! account and Region and starts the others first in first out, on any data store; a waiting
//! export's place is what is ahead of it: the running export first, then the waiting ones in the
//! order they were submitted. This deployment sees its own data stores only: exports of other
//! data stores of the account are ahead too but cannot be listed here (docs/api.md says so).
//! Pure: the functions list the jobs and hand them here.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::job::JobSnapshot;
use crate::model::phase::JobPhase;

/// One export ahead in the queue.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ahead {
    /// Absent for an export another tool started: not this API's to show.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    pub datastore_id: String,
    pub status: String,
    #[serde(serialize_with = "crate::model::time::serialize_optional")]
    pub submit_time: Option<DateTime<Utc>>,
}

/// Every export of these data stores not yet ended, of those listed.
pub fn unfinished(listed: Vec<JobSnapshot>) -> impl Iterator<Item = JobSnapshot> {
    listed
        .into_iter()
        .filter(|job| !matches!(JobPhase::of(&job.status), JobPhase::Finished(_)))
}

impl QueuePlace {
    /// What was ahead, in a sentence: `job X of data store A (IN_PROGRESS), ...`.
    pub fn describe_ahead(&self) -> String {
        if self.ahead.is_empty() {
            return "nothing this deployment can see (the exports ahead were on other data \
                    stores of the account)"
                .into();
        }
        self.ahead
            .iter()
            .map(|ahead| match &ahead.job_id {
                Some(id) => format!(
                    "job {id} of data store {} ({})",
                    ahead.datastore_id, ahead.status
                ),
                None => format!(
                    "another tool's export of data store {} ({})",
                    ahead.datastore_id, ahead.status
                ),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A waiting export's place: 1 runs next.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueuePlace {
    pub place: usize,
    pub ahead: Vec<Ahead>,
}

/// An export the deployment can see: its data store, the job, and whether this deployment
/// started it.
pub type Seen<'a> = (&'a str, &'a JobSnapshot, bool);

/// The place of `job_id` among `seen` (every export of the deployment's data stores not yet
/// ended), or `None` when it does not wait (it runs, or has ended).
pub fn place_of(job_id: &str, seen: &[Seen<'_>]) -> Option<QueuePlace> {
    let (_, job, _) = seen.iter().find(|(_, job, _)| job.job_id == job_id)?;
    if JobPhase::of(&job.status) != JobPhase::Waiting {
        return None;
    }
    let mut queue: Vec<&Seen<'_>> = seen
        .iter()
        .filter(|(_, job, _)| {
            matches!(
                JobPhase::of(&job.status),
                JobPhase::Waiting | JobPhase::Running
            )
        })
        .collect();
    // The running export first; then first in, first out (the id breaks a tie, so the order
    // is the same on every call).
    queue.sort_by_key(|(_, job, _)| {
        (
            JobPhase::of(&job.status) == JobPhase::Waiting,
            job.submit_time,
            job.job_id.clone(),
        )
    });
    let ahead: Vec<Ahead> = queue
        .iter()
        .take_while(|(_, queued, _)| queued.job_id != job_id)
        .map(|(datastore_id, queued, ours)| Ahead {
            job_id: ours.then(|| queued.job_id.clone()),
            datastore_id: datastore_id.to_string(),
            status: queued.status.to_string(),
            submit_time: queued.submit_time,
        })
        .collect();
    Some(QueuePlace {
        place: ahead.len() + 1,
        ahead,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::job::JobStatus;
    use crate::samples::at;

    fn job(id: &str, status: JobStatus, submitted: &str) -> JobSnapshot {
        JobSnapshot {
            job_id: id.into(),
            job_name: None,
            status,
            submit_time: Some(at(submitted)),
            end_time: None,
            output_s3_uri: None,
            message: None,
        }
    }

    #[test]
    fn a_waiting_export_is_behind_the_running_one_and_those_submitted_before_it() {
        let running = job("r", JobStatus::InProgress, "2026-12-07T05:10:00Z");
        let early = job("e", JobStatus::Queued, "2026-12-07T05:00:00Z");
        let other = job("o", JobStatus::Submitted, "2026-12-07T05:20:00Z");
        let mine = job("m", JobStatus::Queued, "2026-12-07T05:30:00Z");
        let later = job("l", JobStatus::Queued, "2026-12-07T05:40:00Z");
        let ended = job("x", JobStatus::Completed, "2026-12-07T04:00:00Z");
        let seen = [
            ("b", &later, true),
            ("a", &mine, true),
            ("c", &other, false),
            ("a", &running, true),
            ("b", &early, true),
            ("a", &ended, true),
        ];
        let place = place_of("m", &seen).unwrap();
        assert_eq!(place.place, 4);
        let ahead: Vec<(Option<&str>, &str)> = place
            .ahead
            .iter()
            .map(|a| (a.job_id.as_deref(), a.status.as_str()))
            .collect();
        assert_eq!(
            ahead,
            [
                (Some("r"), "IN_PROGRESS"),
                (Some("e"), "QUEUED"),
                (None, "SUBMITTED")
            ],
            "another tool's export is shown without its id"
        );
        assert_eq!(place_of("r", &seen), None, "a running export does not wait");
        assert_eq!(place_of("x", &seen), None);
        assert_eq!(place_of("missing", &seen), None);
    }

    #[test]
    fn an_export_with_nothing_ahead_is_first() {
        let mine = job("m", JobStatus::Submitted, "2026-12-07T05:30:00Z");
        let place = place_of("m", &[("a", &mine, true)]).unwrap();
        assert_eq!((place.place, place.ahead.len()), (1, 0));
    }
}

//! How many execution-history events the state machine writes, counted from the ASL itself: the
//! states on the check loop (Wait -> check -> decide -> Wait), the states before the first Wait,
//! and the end. The one model of it; `infra/checks` asks this crate instead of counting again.
//!
//! A state machine with job events has two loops: the plain Wait (job events off, or the event
//! path failed), and the interruptible wait, a `lambda:invoke.waitForTaskToken` task that
//! HealthLake's job event ends early (woken) or its timeout ends (a fallback check).

use std::collections::{HashMap, VecDeque};

use serde_json::Value;

/// Step Functions' limit on one execution's history.
pub const HISTORY_EVENT_LIMIT: u64 = 25_000;

/// The state machine's file, relative to the workspace root.
pub const ASL_PATH: &str = "infra/statemachine/export.asl.json";

/// History events of the interruptible wait (a `.waitForTaskToken` task) ended by SendTaskSuccess:
/// TaskStateEntered, TaskScheduled, TaskStarted, TaskSubmitted, TaskSucceeded, TaskStateExited
/// (moto's executor agrees: infra/checks/test_asl_moto.py).
pub const WAIT_TASK_WOKEN_EVENTS: u64 = 6;
/// The same task ended by its timeout and caught into the check: TaskStateEntered, TaskScheduled,
/// TaskStarted, TaskSubmitted, TaskTimedOut, TaskStateExited (test_asl_moto.py).
pub const WAIT_TASK_TIMED_OUT_EVENTS: u64 = 6;

/// The integration pattern of the interruptible wait.
const WAIT_FOR_TASK_TOKEN: &str = ".waitForTaskToken";

fn is_wait_task(state: &Value) -> bool {
    state["Type"] == "Task"
        && state["Resource"]
            .as_str()
            .is_some_and(|r| r.ends_with(WAIT_FOR_TASK_TOKEN))
}

/// History events a state adds when it runs once without retries (AWS and moto alike).
fn events_of(state_type: &str) -> Option<u64> {
    Some(match state_type {
        "Wait" | "Choice" | "Pass" => 2, // ...StateEntered, ...StateExited
        "Task" => 5, // TaskStateEntered, TaskScheduled, TaskStarted, TaskSucceeded, TaskStateExited
        "Succeed" => 2,
        "Fail" => 1,
        _ => return None,
    })
}

/// Events per check, before the first check, and at the end, for one state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryModel {
    /// One Wait -> check -> decide round.
    pub per_check: u64,
    /// ExecutionStarted and the states before the first Wait.
    pub at_start: u64,
    /// Succeed entered and exited, ExecutionSucceeded.
    pub at_end: u64,
    /// State transitions (billed) per check: the states on the loop.
    pub transitions_per_check: u64,
    /// State transitions outside the loop: the states before the first Wait, and the end.
    pub transitions_per_run: u64,
    /// The loop through the interruptible wait, when the state machine has one.
    pub with_events: Option<EventsLoop>,
}

/// The check loop through the interruptible wait (job events on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventsLoop {
    /// One round whose wait a job event ended (the check at a job's end).
    pub per_woken_check: u64,
    /// One round whose wait ran out (a fallback check, the job still running).
    pub per_fallback_check: u64,
    /// ExecutionStarted and the states before the first interruptible wait.
    pub at_start: u64,
    pub transitions_per_check: u64,
    pub transitions_per_run: u64,
}

impl HistoryModel {
    /// Reads the model from an ASL document; the error says what the document lacks.
    pub fn of(definition: &Value) -> Result<HistoryModel, String> {
        let states = definition["States"]
            .as_object()
            .ok_or("the definition has no States")?;
        let type_of = |name: &str| -> Result<&str, String> {
            states
                .get(name)
                .and_then(|s| s["Type"].as_str())
                .ok_or_else(|| format!("no state {name:?}"))
        };
        let events = |names: &[String]| -> Result<u64, String> {
            names.iter().try_fold(0, |sum, name| {
                let kind = type_of(name)?;
                events_of(kind)
                    .map(|n| sum + n)
                    .ok_or_else(|| format!("{name}: unknown state type {kind:?}"))
            })
        };
        let waits: Vec<&String> = states
            .iter()
            .filter(|(_, s)| s["Type"] == "Wait")
            .map(|(name, _)| name)
            .collect();
        let [wait] = waits.as_slice() else {
            return Err(format!("expected exactly one Wait state, found {waits:?}"));
        };
        let start = definition["StartAt"].as_str().ok_or("no StartAt")?;
        let before_wait = if start == wait.as_str() {
            Vec::new()
        } else {
            shortest_path(states, start, wait)?
        };
        let a_round = shortest_path(states, wait, wait)?;
        // A state on the way to the first wait that is also on the loop (a Choice picking the
        // wait) runs once per round, the first time before the first wait: count it in the round.
        let before_wait = outside(before_wait, &a_round);
        let wait_tasks: Vec<&String> = states
            .iter()
            .filter(|(_, s)| is_wait_task(s))
            .map(|(name, _)| name)
            .collect();
        let with_events = match wait_tasks.as_slice() {
            [] => None,
            [task] => {
                let before = if start == task.as_str() {
                    Vec::new()
                } else {
                    shortest_path(states, start, task)?
                };
                let round = shortest_path(states, task, task)?;
                let before = outside(before, &round);
                // The task itself is counted by how its wait ended, the other states as usual.
                let others: Vec<String> = round.iter().skip(1).cloned().collect();
                let rest = events(&others)?;
                Some(EventsLoop {
                    per_woken_check: WAIT_TASK_WOKEN_EVENTS + rest,
                    per_fallback_check: WAIT_TASK_TIMED_OUT_EVENTS + rest,
                    at_start: 1 + events(&before)?,
                    transitions_per_check: round.len() as u64,
                    transitions_per_run: before.len() as u64 + 1,
                })
            }
            more => {
                return Err(format!(
                    "expected at most one waitForTaskToken task, found {more:?}"
                ));
            }
        };
        Ok(HistoryModel {
            per_check: events(&a_round)?,
            at_start: 1 + events(&before_wait)?,
            at_end: events_of("Succeed").unwrap_or_default() + 1,
            transitions_per_check: a_round.len() as u64,
            transitions_per_run: before_wait.len() as u64 + 1,
            with_events,
        })
    }

    /// The state machine in this repository.
    pub fn of_repository() -> Result<HistoryModel, String> {
        let path = format!("{}/../../{ASL_PATH}", env!("CARGO_MANIFEST_DIR"));
        Self::of_file(&path)
    }

    pub fn of_file(path: &str) -> Result<HistoryModel, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let definition = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
        Self::of(&definition)
    }

    /// The whole history of a run that made `checks` checks and ended well.
    pub fn events_for(&self, checks: u64) -> u64 {
        self.at_start + checks * self.per_check + self.at_end
    }
}

/// The states of `path` that are not on `round`.
fn outside(path: Vec<String>, round: &[String]) -> Vec<String> {
    path.into_iter().filter(|s| !round.contains(s)).collect()
}

/// The happy-path successors of a state: Next, each Choice rule's Next, and Default (a Catch
/// is the unhappy path, and not followed).
fn successors(state: &Value) -> Vec<&str> {
    let mut next: Vec<&str> = Vec::new();
    next.extend(state["Next"].as_str());
    if let Some(rules) = state["Choices"].as_array() {
        next.extend(rules.iter().filter_map(|rule| rule["Next"].as_str()));
    }
    next.extend(state["Default"].as_str());
    next
}

/// The states on the shortest happy path from `source` to `target`, `source` included and
/// `target` not (so a path from a state to itself is one round of a loop).
fn shortest_path(
    states: &serde_json::Map<String, Value>,
    source: &str,
    target: &str,
) -> Result<Vec<String>, String> {
    let mut previous: HashMap<&str, Option<&str>> = HashMap::from([(source, None)]);
    let mut queue = VecDeque::from([source]);
    while let Some(current) = queue.pop_front() {
        let state = states
            .get(current)
            .ok_or_else(|| format!("no state {current:?}"))?;
        for next in successors(state) {
            if next == target {
                let mut path = vec![current.to_string()];
                while let Some(Some(before)) = previous.get(path.last().unwrap().as_str()) {
                    path.push(before.to_string());
                }
                path.reverse();
                return Ok(path);
            }
            if !previous.contains_key(next) {
                previous.insert(next, Some(current));
                queue.push_back(next);
            }
        }
    }
    Err(format!("no path from {source} to {target}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_repositorys_state_machine_writes_11_events_per_check_without_events() {
        // Wait (2) + Task (5) + Choice Route (2) + Choice ChooseWait (2); moto's executor agrees
        // (infra/checks/test_asl_moto.py). ChooseWait, which picks the plain or the interruptible
        // wait, took it from 9 to 11.
        let model = HistoryModel::of_repository().unwrap();
        assert_eq!(model.per_check, 11);
        assert_eq!(
            model.at_start, 3,
            "ExecutionStarted + the ValidateInput Choice (ChooseWait counts in each round)"
        );
        assert_eq!(model.at_end, 3);
        assert_eq!(model.transitions_per_check, 4);
        assert_eq!(model.transitions_per_run, 2);
    }

    #[test]
    fn the_repositorys_state_machine_writes_15_events_per_check_with_events() {
        // WaitForJobEvent (6, woken or timed out) + CheckExport (5) + Route (2) + ChooseWait (2).
        let events = HistoryModel::of_repository().unwrap().with_events.unwrap();
        assert_eq!(
            (events.per_woken_check, events.per_fallback_check),
            (15, 15)
        );
        assert_eq!(events.at_start, 3);
        assert_eq!(
            (events.transitions_per_check, events.transitions_per_run),
            (4, 2)
        );
    }

    #[test]
    fn a_wait_task_loop_is_found_beside_the_wait_loop() {
        let definition = json!({"StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.e", "BooleanEquals": true, "Next": "E"}], "Default": "W"},
            "W": {"Type": "Wait", "Seconds": 1, "Next": "T"},
            "E": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "Next": "T"},
            "T": {"Type": "Task", "Resource": "x", "Next": "R"},
            "R": {"Type": "Choice", "Choices": [{"Variable": "$.a", "BooleanEquals": true, "Next": "C"}], "Default": "S"},
            "S": {"Type": "Succeed"}
        }});
        let model = HistoryModel::of(&definition).unwrap();
        assert_eq!(model.per_check, 2 + 5 + 2 + 2);
        let events = model.with_events.unwrap();
        assert_eq!(events.per_woken_check, WAIT_TASK_WOKEN_EVENTS + 5 + 2 + 2);
        assert_eq!(
            events.at_start, 1,
            "C is on the loop: counted in each round"
        );
        let without = json!({"StartAt": "W", "States": {
            "W": {"Type": "Wait", "Seconds": 1, "Next": "T"},
            "T": {"Type": "Task", "Resource": "x", "Next": "R"},
            "R": {"Type": "Choice", "Choices": [{"Variable": "$.a", "BooleanEquals": true, "Next": "W"}], "Default": "S"},
            "S": {"Type": "Succeed"}
        }});
        assert_eq!(HistoryModel::of(&without).unwrap().with_events, None);
    }

    #[test]
    fn a_longer_loop_counts_every_state_on_it() {
        let definition = json!({"StartAt": "W", "States": {
            "W": {"Type": "Wait", "Seconds": 1, "Next": "T"},
            "T": {"Type": "Task", "Resource": "x", "Next": "P"},
            "P": {"Type": "Pass", "Next": "C"},
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "BooleanEquals": true, "Next": "W"}], "Default": "S"},
            "S": {"Type": "Succeed"}
        }});
        let model = HistoryModel::of(&definition).unwrap();
        assert_eq!(model.per_check, 2 + 5 + 2 + 2);
        assert_eq!(model.at_start, 1);
        assert_eq!(model.events_for(10), 1 + 110 + 3);
        assert_eq!(
            (model.transitions_per_check, model.transitions_per_run),
            (4, 1)
        );
    }

    #[test]
    fn a_machine_without_one_wait_or_without_a_loop_is_refused() {
        let no_wait = json!({"StartAt": "S", "States": {"S": {"Type": "Succeed"}}});
        assert!(
            HistoryModel::of(&no_wait)
                .unwrap_err()
                .contains("exactly one Wait")
        );
        let no_loop = json!({"StartAt": "W", "States": {
            "W": {"Type": "Wait", "Seconds": 1, "Next": "S"}, "S": {"Type": "Succeed"}}});
        assert!(HistoryModel::of(&no_loop).unwrap_err().contains("no path"));
    }
}

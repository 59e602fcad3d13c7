//! How many execution-history events the state machine writes, counted from the ASL itself: the
//! states on the check loop (Wait -> check -> decide -> Wait), the states before the first Wait,
//! and the end. The one model of it; `infra/checks` asks this crate instead of counting again.

use std::collections::{HashMap, VecDeque};

use serde_json::Value;

/// Step Functions' limit on one execution's history.
pub const HISTORY_EVENT_LIMIT: u64 = 25_000;

/// The state machine's file, relative to the workspace root.
pub const ASL_PATH: &str = "infra/statemachine/export.asl.json";

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
        Ok(HistoryModel {
            per_check: events(&a_round)?,
            at_start: 1 + events(&before_wait)?,
            at_end: events_of("Succeed").unwrap_or_default() + 1,
            transitions_per_check: a_round.len() as u64,
            transitions_per_run: before_wait.len() as u64 + 1,
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
    fn the_repositorys_state_machine_writes_9_events_per_check() {
        // Wait (2) + Task (5) + Choice (2); moto's executor agrees (infra/checks/test_asl_moto.py).
        let model = HistoryModel::of_repository().unwrap();
        assert_eq!(model.per_check, 9);
        assert_eq!(
            model.at_start, 3,
            "ExecutionStarted + the ValidateInput Choice"
        );
        assert_eq!(model.at_end, 3);
        assert_eq!(model.transitions_per_check, 3);
        assert_eq!(model.transitions_per_run, 2);
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

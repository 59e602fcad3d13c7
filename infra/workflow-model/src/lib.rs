//! The state machine's history and polling model, the one place that counts it: how many
//! execution-history events the ASL writes per check ([`history`]), and what the real wait policy
//! costs over a job of a given length ([`cost`]). The polling-cost benchmark prints it;
//! `infra/checks` reads it as JSON ([`json`], the `workflow-model` binary) instead of keeping a
//! copy of the policy or the history count.

pub mod cost;
pub mod history;
pub mod json;

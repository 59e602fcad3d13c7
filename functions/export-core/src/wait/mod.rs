//! The waits of an export: between two checks ([`policy`]), between two attempts to start it
//! ([`start_retry`]), the bounds of its wait for the account's export slot and of its run
//! ([`deadline`]), and the task token a wait parks so a job's event can end it early ([`park`]).

pub mod deadline;
pub mod park;
pub mod policy;
pub mod start_retry;

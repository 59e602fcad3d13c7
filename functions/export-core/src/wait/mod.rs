//! The wait between two checks: how long ([`policy`]), and the task token a wait parks so a job's
//! event can end it early ([`park`]).

pub mod park;
pub mod policy;

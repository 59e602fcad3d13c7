//! The export kinds: a full export (StartFHIRExportJob) or a FHIR `$export` with a scope, types
//! and a `_since`/`_until` window; the incremental window and its high-water mark; a `$export`
//! start's claim; the R4 resource types.

pub mod claim;
pub mod kind;
pub mod r4;
pub mod window;

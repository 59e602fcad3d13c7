//! healthlake-export: the command-line client of the export API. Pure modules (`args`, `api`,
//! `endpoint`, `follow`, `render`, `exit`) decide and render; `client` signs and sends, `run`
//! carries the commands between them; `main` is the program's entry only.

pub mod api;
pub mod args;
pub mod client;
pub mod endpoint;
pub mod exit;
pub mod follow;
pub mod render;
pub mod run;

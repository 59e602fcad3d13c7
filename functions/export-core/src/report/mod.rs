//! An export's outcome as the team receives it: the report, what each channel carries (the
//! e-mail text, the JSON document, the chat form, the outcome event), and what the export wrote.

pub mod chat;
pub mod delivery;
pub mod notification;
pub mod summary;

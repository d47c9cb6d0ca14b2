//! The domain: what Sickbay's words mean and the rules it follows, with no outside system in
//! reach (no Docker, no database, no network, no clock but the one passed in). Everything here
//! is pure and unit-tested on its own.

pub mod deps;
pub mod escape;
pub mod event;
pub mod guard;
pub mod heal;
pub mod maintenance;
pub mod model;
pub mod patterns;
pub mod redact;
pub mod snooze;
pub mod words;

//! The way from an incident to a person and an agent: the alert watcher, the diagnosis (offline
//! signatures and the LLM), escalation into Claude Code in a terminal, the keychain. Container
//! text reaching it is untrusted data: redacted, fenced, never on a command line.

pub mod alert;
pub mod diagnose;
pub mod escalate;
pub mod keychain;
pub mod llm;
pub mod terminal;

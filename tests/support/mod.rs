//! What the integration tests (and the benches) share, apart from the topics they test: the
//! `sickbay watch` under test and its containers ([`common`]), a compose project of a test's own ([`compose`]), a Docker daemon of a test's own
//! ([`own_daemon`]), a PostgreSQL server of a test's own ([`pg`]), and an HTTP server standing
//! in for outside services ([`http_stand_in`]). No test lives here.

pub mod common;
pub mod compose;
pub mod http_stand_in;
pub mod own_daemon;
pub mod pg;

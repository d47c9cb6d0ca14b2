//! Where Sickbay keeps what happened: the SQLite history, its schema and migrations, the
//! Postgres mirror, the log files. It records and reads back; it decides nothing.

pub mod journal;
pub mod logfile;
pub mod mirror;
pub mod schema;
pub mod store;

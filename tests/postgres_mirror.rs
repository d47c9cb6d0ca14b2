//! The Postgres mirror against a real PostgreSQL server and a live `sickbay watch`: it fills,
//! survives an outage and a SIGKILL during catch-up with exactly SQLite's rows, runs the
//! original system's queries, and explains a wrong password or a missing database.

use std::time::Duration;

use crate::support::common::*;
use crate::support::pg::{PgServer, PASSWORD};

const TABLES: &[&str] = &[
    "monitor_incidents",
    "monitor_events",
    "monitor_health_metrics",
];

/// The uids of `table` in SQLite, sorted, one per line.
fn sqlite_uids(s: &Scenario, table: &str) -> String {
    let conn = rusqlite::Connection::open(s.data().join("sickbay.db")).expect("open sickbay.db");
    let mut stmt = conn
        .prepare(&format!("SELECT uid FROM {table} ORDER BY uid"))
        .expect("query");
    let uids: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .expect("rows")
        .map(Result::unwrap)
        .collect();
    uids.join("\n")
}

/// Asserts that Postgres holds exactly SQLite's rows, table by table, each once.
fn assert_exact(s: &Scenario, pg: &PgServer, db: &str) {
    for table in TABLES {
        let local = sqlite_uids(s, table);
        let remote = pg.psql(
            db,
            &format!("SELECT uid FROM {table} ORDER BY uid COLLATE \"C\""),
        );
        let n_local = local.lines().count();
        let n_remote = remote.lines().count();
        assert_eq!(
            n_local, n_remote,
            "{table}: SQLite has {n_local} rows, Postgres {n_remote}"
        );
        assert!(
            local == remote,
            "{table}: the uids differ between SQLite and Postgres"
        );
        let distinct = pg.psql(db, &format!("SELECT COUNT(DISTINCT uid) FROM {table}"));
        assert_eq!(distinct, n_remote.to_string(), "{table}: duplicated rows");
    }
    // The hourly roll-ups and the incidents' latest state too.
    let closed_local =
        s.sqlite_i64("SELECT COUNT(*) FROM monitor_incidents WHERE closed_at IS NOT NULL");
    let closed_remote = pg.psql(
        db,
        "SELECT COUNT(*) FROM monitor_incidents WHERE closed_at IS NOT NULL",
    );
    assert_eq!(
        closed_remote,
        closed_local.to_string(),
        "closed incidents differ"
    );
}

fn pending(s: &Scenario) -> i64 {
    s.json(&["status", "--json"])["mirror_pending"]
        .as_i64()
        .expect("status --json has mirror_pending when a mirror is configured")
}

/// A container that crashes once it is told to, watched but never healed: an incident that
/// stays open with `auto_healed` false.
fn crasher(s: &mut Scenario, suffix: &str) -> String {
    s.container(
        suffix,
        &["--label", "sickbay.heal=none"],
        "while [ ! -f /tmp/go ]; do sleep 0.1; done; echo going down; exit 3",
    )
}

#[test]
fn the_mirror_fills_live_and_ends_exact_after_an_outage() {
    let pg = PgServer::start();
    pg.create_db("history");
    let mut s = Scenario::new("pg-outage");
    s.container("steady", &[], "exec sleep 100000");
    let first = crasher(&mut s, "crash-1");
    s.start_watch(&format!(
        "[storage]\npostgres_url = \"{}\"",
        pg.url("history")
    ));
    s.go_when_watched(&first);
    wait_until(60, "incidents, events and metrics in Postgres", || {
        TABLES.iter().all(|t| pg.count("history", t) > 0)
    });

    // The outage: Postgres goes away while incidents and metrics keep coming.
    pg.halt();
    let before = s.sqlite_i64("SELECT COUNT(*) FROM monitor_health_metrics");
    let incidents_before = s.sqlite_i64("SELECT COUNT(*) FROM monitor_incidents");
    let second = crasher(&mut s, "crash-2");
    s.go_when_watched(&second);
    let recorded = wait_for(60, || {
        s.sqlite_i64("SELECT COUNT(*) FROM monitor_health_metrics") > before + 4
            && s.sqlite_i64("SELECT COUNT(*) FROM monitor_incidents") > incidents_before
    });
    assert!(
        recorded,
        "new incidents and metrics recorded locally: metrics {before} -> {}, incidents \
         {incidents_before} -> {}, watch running: {}; monitor.log:\n{}\nwatch's stderr:\n{}",
        s.sqlite_i64("SELECT COUNT(*) FROM monitor_health_metrics"),
        s.sqlite_i64("SELECT COUNT(*) FROM monitor_incidents"),
        s.watch_running(),
        s.log(),
        s.watch_stderr()
    );
    assert!(
        s.watch_running(),
        "watch must keep running through the outage"
    );
    assert!(pending(&s) > 0, "rows wait for Postgres while it is down");

    // Back: the backlog drains by itself.
    pg.resume();
    wait_until(60, "the backlog drained", || pending(&s) == 0);
    assert!(s.stop_watch(), "watch exits cleanly");
    // The clean stop flushed its last events (monitor_stopped) too.
    assert_exact(&s, &pg, "history");
    assert_eq!(
        pg.psql(
            "history",
            "SELECT COUNT(*) FROM monitor_events WHERE event = 'monitor_stopped'"
        ),
        "1"
    );

    // The original system's queries, unchanged.
    let unhealed = pg.psql(
        "history",
        "SELECT * FROM monitor_incidents WHERE auto_healed = false ORDER BY timestamp DESC LIMIT 10;",
    );
    assert!(
        !unhealed.is_empty(),
        "the crash loop's incidents are not auto-healed"
    );
    pg.psql(
        "history",
        "SELECT container_name, AVG(response_time_ms) as avg_ms FROM monitor_health_metrics \
         WHERE timestamp > NOW() - INTERVAL '1 hour' GROUP BY container_name \
         HAVING AVG(response_time_ms) > 1000;",
    );
    // Each row says which machine it came from.
    let hosts = pg.psql(
        "history",
        "SELECT COUNT(DISTINCT host_id) || ' ' || COUNT(*) FILTER (WHERE host_name = '') FROM monitor_events",
    );
    assert_eq!(hosts, "1 0", "one machine, named on every row");
}

#[test]
fn a_sigkill_during_catch_up_still_ends_exact() {
    let pg = PgServer::start();
    pg.create_db("history");
    let mut s = Scenario::new("pg-kill");
    s.container("steady", &[], "exec sleep 100000");
    let extra = format!("[storage]\npostgres_url = \"{}\"", pg.url("history"));
    s.start_watch(&extra);
    wait_until(60, "the first rows in Postgres", || {
        pg.count("history", "monitor_health_metrics") > 0
    });
    assert!(s.stop_watch());

    // Half a million samples (50 containers, 3.5 days) not yet in Postgres.
    crate::support::pg::queue_metrics_backlog(&s.data().join("sickbay.db"), 500_000);

    // Catch-up starts; kill it in the middle (as soon as a batch has gone), twice.
    for round in 0..2 {
        let queued = s.sqlite_i64("SELECT COUNT(*) FROM mirror_outbox");
        s.spawn_watch(&extra);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while s.sqlite_i64("SELECT COUNT(*) FROM mirror_outbox") >= queued {
            assert!(
                std::time::Instant::now() < deadline,
                "round {round}: no catch-up"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        s.kill_watch();
        let left = s.sqlite_i64("SELECT COUNT(*) FROM mirror_outbox");
        assert!(
            left > 0,
            "round {round}: killed after the catch-up had already finished"
        );
    }
    s.start_watch(&extra);
    wait_until(120, "the backlog drained", || pending(&s) == 0);
    assert!(s.stop_watch());
    assert_exact(&s, &pg, "history");
}

#[test]
fn a_wrong_password_or_missing_database_is_explained_and_history_keeps_growing() {
    let pg = PgServer::start();
    pg.create_db("history");
    let mut s = Scenario::new("pg-bad");
    s.container("steady", &[], "exec sleep 100000");
    let wrong = pg.url("history").replace(PASSWORD, "not-the-password");
    s.start_watch(&format!("[storage]\npostgres_url = \"{wrong}\""));
    wait_until(30, "local metrics despite the refused mirror", || {
        s.sqlite_i64("SELECT COUNT(*) FROM monitor_health_metrics") >= 2
    });
    assert!(s.watch_running());
    let doctor = s.cmd().arg("doctor").output().expect("run doctor");
    let text = String::from_utf8_lossy(&doctor.stdout).to_string();
    assert!(
        text.contains("password authentication failed"),
        "doctor names the problem: {text}"
    );
    assert!(
        !text.contains("not-the-password"),
        "doctor shows the password: {text}"
    );
    assert!(s.stop_watch());
    let logs = std::fs::read_dir(s.data().join("logs"))
        .expect("logs")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .collect::<String>();
    assert!(
        logs.contains("password authentication failed"),
        "the log says why"
    );
    assert!(
        !logs.contains("not-the-password"),
        "a log shows the password"
    );
    assert!(pending(&s) > 0, "the rows wait for the mirror");

    // A missing database.
    let missing = pg.url("no_such_db");
    s.config(&format!("[storage]\npostgres_url = \"{missing}\""));
    let doctor = s.cmd().arg("doctor").output().expect("run doctor");
    let text = String::from_utf8_lossy(&doctor.stdout).to_string();
    assert!(
        text.contains("database \"no_such_db\" does not exist"),
        "doctor names the database: {text}"
    );
    // Fixed: everything recorded meanwhile arrives.
    s.start_watch(&format!(
        "[storage]\npostgres_url = \"{}\"",
        pg.url("history")
    ));
    wait_until(60, "the backlog drained", || pending(&s) == 0);
    std::thread::sleep(Duration::from_millis(200));
    assert!(s.stop_watch());
    assert_exact(&s, &pg, "history");
}

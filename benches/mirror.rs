//! The Postgres mirror's benchmark, against a real PostgreSQL server (Debian's `postgresql`,
//! started privately as in the tests). Prints figures for the README; not a timed test.
//! Run: `cargo bench --no-default-features --bench mirror`.
//!
//! 1. Catch-up rate: a backlog of 100,000 metric rows sent to an empty database (5 runs).
//! 2. Steady-state lag: a row written to the local history → the same row visible in
//!    Postgres, with the mirror running as `watch` runs it (30 samples).

use std::time::{Duration, Instant};

// The integration tests' support tree, shared as source: its helpers need
// `CARGO_BIN_EXE_sickbay`, which Cargo sets only when it compiles integration tests and
// benches, so they cannot live in the library.
#[allow(dead_code)]
#[path = "../tests/support/mod.rs"]
mod support;

use sickbay::config::Settings;
use sickbay::storage::mirror::{Running, Session, Target};
use sickbay::storage::store::Store;

const BACKLOG: u32 = 100_000;
const RUNS: usize = 5;
const LAG_SAMPLES: usize = 30;

fn queue_backlog(db: &std::path::Path) {
    let mut store = Store::open(db).expect("open the history");
    store.enable_mirror().expect("enable the mirror");
    drop(store);
    support::pg::queue_metrics_backlog(db, BACKLOG);
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

fn main() {
    let server = support::pg::PgServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");

    // 1. Catch-up.
    let mut rates = Vec::new();
    for run in 0..RUNS {
        let db_name = format!("catchup{run}");
        server.create_db(&db_name);
        let db = dir.path().join(format!("catchup{run}.db"));
        queue_backlog(&db);
        let target = Target::parse(&server.url(&db_name)).expect("target");
        let store = Store::open(&db).expect("open the history");
        let sent = rt.block_on(async {
            let mut session = Session::open(&target, &store).await.expect("connect");
            let t0 = Instant::now();
            let sent = session.drain(&store).await.expect("drain");
            (sent, t0.elapsed())
        });
        assert!(sent.0 >= u64::from(BACKLOG), "sent only {}", sent.0);
        let in_pg: i64 = server
            .psql(&db_name, "SELECT COUNT(*) FROM monitor_health_metrics")
            .parse()
            .expect("count");
        assert_eq!(in_pg, i64::from(BACKLOG));
        rates.push(sent.0 as f64 / sent.1.as_secs_f64());
    }
    let rate = median(&mut rates);

    // 2. Steady-state lag, with the mirror started as `watch` starts it.
    server.create_db("steady");
    let db = dir.path().join("steady.db");
    let mut settings = Settings::default();
    settings.storage.postgres_url = server.url("steady");
    let writer = Store::open(&db).expect("open the history");
    let mut lags = rt.block_on(async {
        let mirror =
            Running::start(settings.storage.postgres_url(), db.clone(), None).expect("mirror");
        let mut lags = Vec::new();
        for i in 0..LAG_SAMPLES {
            // Spread the samples over the mirror's polling cycle.
            tokio::time::sleep(Duration::from_millis(137 + 61 * (i as u64 % 7))).await;
            let t0 = Instant::now();
            let id = writer
                .insert_event(
                    &sickbay::clock::utc_now(),
                    "bench_marker",
                    Some("bench"),
                    None,
                    &format!("n:{i}"),
                )
                .expect("insert");
            loop {
                let found = server.psql(
                    "steady",
                    &format!("SELECT COUNT(*) FROM monitor_events WHERE id = {id}"),
                );
                if found == "1" {
                    break;
                }
                assert!(
                    t0.elapsed() < Duration::from_secs(30),
                    "row {id} never arrived"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            lags.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        mirror.stop().await;
        lags
    });
    lags.sort_by(f64::total_cmp);

    println!("\n| Postgres mirror (2 cores, PostgreSQL on loopback) | figure | target |");
    println!("|---|---|---|");
    println!(
        "| catch-up of {BACKLOG} metric rows, median of {RUNS} runs | {rate:.0} rows/s ({}) | > 20,000 rows/s |",
        rates
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "| steady-state lag, row written → visible in Postgres ({LAG_SAMPLES} samples) | median {:.0} ms, p95 {:.0} ms, max {:.0} ms | < 2 s |",
        percentile(&lags, 0.5),
        percentile(&lags, 0.95),
        lags[lags.len() - 1]
    );
}

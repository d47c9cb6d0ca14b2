//! Redaction and offline diagnosis speed: `cargo bench --no-default-features --bench diagnosis`.
//! Prints the median of several trials; no network, no Docker.

use std::time::{Duration, Instant};

use sickbay::agent::diagnose::{offline, Evidence};
use sickbay::domain::redact::Redactor;

const TRIALS: usize = 7;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time(mut f: impl FnMut()) -> Duration {
    median(
        (0..TRIALS)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

fn log_lines(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 10 {
            0 => format!("{i} connecting to postgres://app:pw{i}secret@db:5432/app"),
            1 => format!("{i} Authorization: Bearer tok{i}abcdefghijkl"),
            2 => format!("{i} DB_PASSWORD=hunter{i}hunter"),
            3 => format!("{i} \x1b[32mINFO\x1b[0m request served in 12 ms status=200"),
            _ => format!("{i} INFO GET /api/items?page={i} 200 1.2ms user_agent=curl/8.5"),
        })
        .collect()
}

fn main() {
    let env: Vec<String> = (0..20)
        .map(|i| format!("SERVICE_{i}_PASSWORD=secret-value-number-{i}"))
        .collect();
    let redactor = Redactor::from_env(&env);
    let lines = log_lines(10_000);
    let text = lines.join("\n");
    let mb = text.len() as f64 / 1_048_576.0;
    let t = time(|| {
        std::hint::black_box(redactor.redact(&text));
    });
    println!(
        "redact: {:.2} MB of log text in {:.1} ms ({:.1} MB/s)",
        mb,
        t.as_secs_f64() * 1e3,
        mb / t.as_secs_f64()
    );
    let t = time(|| {
        for line in &lines[..200] {
            std::hint::black_box(redactor.redact(line));
        }
    });
    println!(
        "redact: 200 lines one by one in {:.2} ms",
        t.as_secs_f64() * 1e3
    );
    let e = Evidence {
        container: "bench".into(),
        exit_code: Some(137),
        log_lines: lines[..200].to_vec(),
        health_output: Some("curl: (7) Failed to connect".into()),
        ..Default::default()
    };
    let t = time(|| {
        std::hint::black_box(offline(&e));
    });
    println!(
        "offline diagnosis of 200 log lines: {:.2} ms",
        t.as_secs_f64() * 1e3
    );
}

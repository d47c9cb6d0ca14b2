//! The Postgres mirror against a real PostgreSQL server serving TLS as Debian and Ubuntu ship
//! it (`ssl = on`, a self-signed certificate valid for `localhost` only), each `sslmode` as
//! libpq means it. Pins the bug where the mirror never connected to such a server with the
//! default URL (it verified the certificate, which libpq's default `prefer` does not).

use std::process::Command;

use crate::support::common::*;
use crate::support::pg::{PgServer, Tls};

/// The test server's URL for `host`, with `params` (`sslmode=...&...`) if any.
fn url(pg: &PgServer, host: &str, params: &str) -> String {
    let url = pg.url("history").replace("127.0.0.1", host);
    if params.is_empty() {
        url
    } else {
        format!("{url}?{params}")
    }
}

fn mirror_config(url: &str) -> String {
    format!("[storage]\npostgres_url = \"{url}\"")
}

/// `sickbay doctor`'s standard output with `url` as the mirror.
fn doctor(s: &Scenario, url: &str) -> String {
    s.config(&mirror_config(url));
    let out = s.cmd().arg("doctor").output().expect("run doctor");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The doctor's line about the mirror, and its advice.
fn mirror_report(doctor: &str) -> String {
    let mut lines = doctor
        .lines()
        .skip_while(|l| !l.contains("Postgres mirror"));
    let first = lines.next().unwrap_or_default();
    let advice: Vec<&str> = lines.take_while(|l| l.starts_with("       →")).collect();
    format!("{first}\n{}", advice.join("\n"))
}

#[test]
fn the_default_sslmode_encrypts_without_verifying_a_self_signed_certificate() {
    let pg = PgServer::start_with(Tls::On);
    pg.create_db("history");
    let mut s = Scenario::new("pg-tls-prefer");
    // No sslmode: libpq's default `prefer`, as `psql` with the same URL.
    s.start_watch(&mirror_config(&url(&pg, "127.0.0.1", "")));
    wait_until(60, "the history in Postgres", || {
        pg.count("history", "monitor_events") > 0
    });
    assert_eq!(
        pg.sickbay_ssl(),
        "t",
        "the mirror's connection is encrypted, as the server sees it"
    );
    assert!(s.stop_watch());
    let report = mirror_report(&doctor(&s, &url(&pg, "127.0.0.1", "")));
    assert!(report.contains("reachable"), "{report}");
}

#[test]
fn sslmode_disable_stays_plain_on_a_server_offering_tls() {
    let pg = PgServer::start_with(Tls::On);
    pg.create_db("history");
    let mut s = Scenario::new("pg-tls-disable");
    s.start_watch(&mirror_config(&url(&pg, "127.0.0.1", "sslmode=disable")));
    wait_until(60, "the history in Postgres", || {
        pg.count("history", "monitor_events") > 0
    });
    assert_eq!(pg.sickbay_ssl(), "f", "sslmode=disable sends plain text");
    assert!(s.stop_watch());
}

#[test]
fn sslmode_allow_tries_plain_first_and_tls_when_the_server_requires_it() {
    let pg = PgServer::start_with(Tls::On);
    pg.create_db("history");
    let mut s = Scenario::new("pg-tls-allow");
    s.start_watch(&mirror_config(&url(&pg, "127.0.0.1", "sslmode=allow")));
    wait_until(60, "the history in Postgres", || {
        pg.count("history", "monitor_events") > 0
    });
    assert_eq!(
        pg.sickbay_ssl(),
        "f",
        "allow: plain text where it is accepted"
    );
    assert!(s.stop_watch());

    let strict = PgServer::start_with(Tls::Required);
    strict.create_db("history");
    let mut s = Scenario::new("pg-tls-allow-hostssl");
    s.start_watch(&mirror_config(&url(&strict, "127.0.0.1", "sslmode=allow")));
    wait_until(60, "the history in Postgres", || {
        strict.count("history", "monitor_events") > 0
    });
    assert_eq!(
        strict.sickbay_ssl(),
        "t",
        "allow: TLS when the server accepts nothing else"
    );
    assert!(s.stop_watch());
}

#[test]
fn verify_full_refuses_a_certificate_it_cannot_trust_and_doctor_says_which_sslmode_to_set() {
    let pg = PgServer::start_with(Tls::On);
    pg.create_db("history");
    let s = Scenario::new("pg-tls-verify");

    // Not signed by anything this machine trusts.
    let report = mirror_report(&doctor(&s, &url(&pg, "127.0.0.1", "sslmode=verify-full")));
    assert!(report.contains("TLS"), "doctor names TLS: {report}");
    assert!(
        report.contains("sslmode=require") && report.contains("sslrootcert="),
        "doctor says which sslmode to set: {report}"
    );
    assert!(
        !report.contains("password"),
        "doctor blames the password: {report}"
    );

    // Trusted through sslrootcert, but the certificate is for localhost, not 127.0.0.1.
    let cert = pg.cert().display().to_string();
    let report = mirror_report(&doctor(
        &s,
        &url(
            &pg,
            "127.0.0.1",
            &format!("sslmode=verify-full&sslrootcert={cert}"),
        ),
    ));
    assert!(
        report.contains("TLS") && report.contains("not valid for 127.0.0.1"),
        "doctor names the host name mismatch: {report}"
    );
    assert!(
        report.contains("sslmode=verify-ca") || report.contains("sslmode=require"),
        "{report}"
    );

    // verify-ca checks the chain, not the name.
    let report = mirror_report(&doctor(
        &s,
        &url(
            &pg,
            "127.0.0.1",
            &format!("sslmode=verify-ca&sslrootcert={cert}"),
        ),
    ));
    assert!(report.contains("reachable"), "verify-ca: {report}");
    // ... and does check the chain: another authority's certificate is refused.
    let other = s.dir.path().join("other-ca.crt");
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes"])
        .args(["-subj", "/CN=localhost", "-days", "2"])
        .arg("-keyout")
        .arg(s.dir.path().join("other-ca.key"))
        .arg("-out")
        .arg(&other)
        .output()
        .expect("run openssl");
    assert!(made.status.success());
    let report = mirror_report(&doctor(
        &s,
        &url(
            &pg,
            "127.0.0.1",
            &format!("sslmode=verify-ca&sslrootcert={}", other.display()),
        ),
    ));
    assert!(
        report.contains("TLS") && !report.contains("reachable"),
        "verify-ca with the wrong authority: {report}"
    );
    // libpq: `require` with an sslrootcert verifies the chain as verify-ca does.
    let report = mirror_report(&doctor(
        &s,
        &url(
            &pg,
            "127.0.0.1",
            &format!("sslmode=require&sslrootcert={}", other.display()),
        ),
    ));
    assert!(
        report.contains("TLS") && !report.contains("reachable"),
        "require with sslrootcert verifies: {report}"
    );
}

#[test]
fn verify_full_with_sslrootcert_and_the_certificates_host_name_connects() {
    let pg = PgServer::start_with(Tls::On);
    pg.create_db("history");
    let s = Scenario::new("pg-tls-full");
    let cert = pg.cert().display().to_string();
    let report = mirror_report(&doctor(
        &s,
        &url(
            &pg,
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={cert}"),
        ),
    ));
    assert!(report.contains("reachable"), "{report}");
}

#[test]
fn sslmode_require_against_a_server_without_tls_fails_clearly() {
    let pg = PgServer::start();
    pg.create_db("history");
    let s = Scenario::new("pg-tls-off");
    let report = mirror_report(&doctor(&s, &url(&pg, "127.0.0.1", "sslmode=require")));
    assert!(
        report.contains("does not offer TLS") && report.contains("sslmode="),
        "{report}"
    );
    assert!(!report.contains("password"), "{report}");
}

#[test]
fn an_unknown_sslmode_is_a_configuration_error_naming_the_key() {
    let s = Scenario::new("pg-tls-badmode");
    let path = s.config(&mirror_config(
        "postgres://sickbay@127.0.0.1:5432/history?sslmode=verify_full",
    ));
    let out = s.cmd().arg("watch").output().expect("run watch");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&path.display().to_string())
            && err.contains("storage.postgres_url")
            && err.contains("sslmode")
            && err.contains("verify_full")
            && err.contains("verify-full"),
        "{err}"
    );
}

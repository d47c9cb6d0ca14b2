//! `sickbay doctor`: checks Docker, compose, the configuration, the data folder, the history,
//! another healer or Sickbay, the LLM and the mirror, and says what to do about each. It only
//! looks: it changes nothing but a write test in the data folder.

use super::*;

/// One line of `doctor`'s report.
pub(super) struct Check {
    ok: bool,
    essential: bool,
    what: String,
    advice: Option<String>,
}

pub(super) fn doctor(cli: &Cli) -> Result<(), Failure> {
    let mut checks = Vec::new();
    match load_settings(cli) {
        Ok((_, ConfigSource::File(p))) => checks.push(Check {
            ok: true,
            essential: true,
            what: format!("configuration {} is valid", p.display()),
            advice: None,
        }),
        Ok((_, ConfigSource::Defaults { looked_at })) => checks.push(Check {
            ok: true,
            essential: true,
            what: format!(
                "no configuration file at {}: using the defaults",
                looked_at.display()
            ),
            advice: None,
        }),
        Err(f) => checks.push(Check {
            ok: false,
            essential: true,
            what: format!("{:#}", f.error),
            advice: Some("fix the file, or see sickbay.example.toml for every key".into()),
        }),
    }
    let rt = runtime()?;
    let endpoint = docker::endpoint();
    match rt.block_on(async {
        let d = docker::Docker::connect().await?;
        d.version().await
    }) {
        Ok(v) => checks.push(Check {
            ok: true,
            essential: true,
            what: format!(
                "Docker reachable at {endpoint}: engine {}, API {}",
                v.version, v.api_version
            ),
            advice: None,
        }),
        Err(e) => checks.push(Check {
            ok: false,
            essential: true,
            what: e.to_string(),
            advice: Some(
                "start the Docker daemon, check that your user may use its socket \
                 (the `docker` group), or set DOCKER_HOST"
                    .into(),
            ),
        }),
    }
    checks.push(match crate::docker::stack::Tool::detect() {
        Some(c) => Check {
            ok: true,
            essential: false,
            what: format!("compose available: {c}"),
            advice: None,
        },
        None => Check {
            ok: false,
            essential: false,
            what: "compose not found (neither `docker compose` nor `docker-compose`)".into(),
            advice: Some("install the Docker Compose plugin or docker-compose".into()),
        },
    });
    if let Ok((settings, _)) = load_settings(cli) {
        if let Some(project) = crate::docker::stack::Project::from_settings(&settings.stack) {
            let file = project.files[0].display().to_string();
            let missing = !project.missing_files().is_empty();
            checks.push(Check {
                ok: !missing,
                essential: false,
                what: if missing {
                    format!("the stack's compose file {file} does not exist")
                } else {
                    format!("stack: {file}")
                },
                advice: missing.then(|| "fix `[stack] compose_file`".to_string()),
            });
        }
        checks.push(
            match rt.block_on(crate::agent::llm::describe(&settings.diagnosis)) {
                Ok(what) => Check {
                    ok: true,
                    essential: false,
                    what,
                    advice: None,
                },
                Err(what) => Check {
                    ok: false,
                    essential: false,
                    what,
                    advice: Some("only the offline diagnosis will be made".into()),
                },
            },
        );
    }
    let data = paths::data_dir();
    checks.push(match writable(&data) {
        Ok(()) => Check {
            ok: true,
            essential: true,
            what: format!("data directory {} is writable", data.display()),
            advice: None,
        },
        Err(e) => Check {
            ok: false,
            essential: true,
            what: format!("data directory {} is not writable: {e}", data.display()),
            advice: Some("fix its permissions or set SICKBAY_DATA_DIR".into()),
        },
    });
    match Store::open(&paths::database_file()) {
        Ok(s) => checks.push(Check {
            ok: true,
            essential: true,
            what: format!(
                "history {} (schema {}, {} incidents)",
                paths::database_file().display(),
                s.schema_version().unwrap_or(0),
                s.count(crate::storage::schema::Table::Incidents)
                    .unwrap_or(0)
            ),
            advice: None,
        }),
        Err(e) => checks.push(Check {
            ok: false,
            essential: true,
            what: e.to_string(),
            advice: Some("move the file aside; Sickbay starts a new one".into()),
        }),
    }
    if let Some(state) = engine::EngineState::read(&paths::data_dir().join("engine.json")) {
        checks.push(Check {
            ok: state.history_errors == 0,
            essential: false,
            what: match &state.last_history_error {
                None => format!(
                    "the running watcher (pid {}) has written every event to the history",
                    state.pid
                ),
                Some(last) => format!(
                    "the running watcher (pid {}) failed {} write(s) to the history; the last: {last}",
                    state.pid, state.history_errors
                ),
            },
            advice: (state.history_errors > 0).then(|| {
                "see the diagnostic log (logs/sickbay.log.*); check the disk and the file's \
                 permissions"
                    .to_string()
            }),
        });
    }
    if let Ok(store) = Store::open(&paths::database_file()) {
        let since = crate::clock::utc_ago(std::time::Duration::from_secs(3600));
        if let Ok(others) = store.restarts_by_others_since(&since) {
            if !others.is_empty() {
                let list: Vec<String> = others.iter().map(|(n, c)| format!("{n} ({c}×)")).collect();
                checks.push(Check {
                    ok: false,
                    essential: false,
                    what: format!(
                        "another healer seems to be at work: restarted by something other than \
                         Sickbay while failing, in the last hour: {}",
                        list.join(", ")
                    ),
                    advice: Some(
                        "stop the other healer (autoheal, a second Sickbay on another machine, \
                         a cron job): its restarts count against Sickbay's limits"
                            .into(),
                    ),
                });
            }
        }
    }
    if let Ok((settings, _)) = load_settings(cli) {
        checks.push(acting_check(&settings));
    }
    if let Some(url) = load_settings(cli)
        .ok()
        .and_then(|(s, _)| s.storage.postgres_url())
    {
        checks.push(mirror_check(&rt, &url));
    }
    let mut out = std::io::stdout().lock();
    let mut failed = false;
    for c in &checks {
        let mark = if c.ok {
            "ok  "
        } else if c.essential {
            "FAIL"
        } else {
            "warn"
        };
        writeln!(out, "[{mark}] {}", c.what)?;
        if let Some(a) = &c.advice {
            writeln!(out, "       → {a}")?;
        }
        failed |= !c.ok && c.essential;
    }
    if failed {
        return Err(Failure {
            code: 1,
            error: anyhow::anyhow!("some essential checks failed"),
        });
    }
    Ok(())
}

/// Whether this process would act on the engine or stand by for another Sickbay.
fn acting_check(settings: &Settings) -> Check {
    use crate::lock::{self, Acquire};
    let endpoint = docker::endpoint();
    let me = format!("pid {} (sickbay doctor)", std::process::id());
    match lock::try_acquire(
        &lock::dir(),
        &endpoint,
        &settings.monitoring.label_selector,
        &me,
    ) {
        Ok(Acquire::Acting(_)) => Check {
            ok: true,
            essential: false,
            what: "no other Sickbay acts on these containers now".into(),
            advice: None,
        },
        Ok(Acquire::Held { by }) => Check {
            ok: true,
            essential: false,
            what: format!(
                "a Sickbay acts on these containers now ({}); another one started with this \
                 configuration stands by until it stops",
                by.unwrap_or_else(|| "another process".into())
            ),
            advice: None,
        },
        Err(e) => Check {
            ok: false,
            essential: false,
            what: format!("cannot check for another Sickbay: {e}"),
            advice: Some(format!(
                "make {} writable: two Sickbays could both act",
                lock::dir().display()
            )),
        },
    }
}

/// The Postgres mirror's line of `doctor`: reachable, schema version, rows pending, lag.
fn mirror_check(rt: &tokio::runtime::Runtime, url: &str) -> Check {
    let target = match crate::storage::mirror::Target::parse(url) {
        Ok(t) => t,
        Err(e) => {
            return Check {
                ok: false,
                essential: false,
                what: format!("Postgres mirror: {e}"),
                advice: Some("fix [storage] postgres_url or SICKBAY_POSTGRES_URL".into()),
            }
        }
    };
    let st = rt.block_on(crate::storage::mirror::check(
        &target,
        &paths::database_file(),
    ));
    let backlog = format!(
        "{} rows pending{}",
        st.pending,
        st.lag_seconds
            .map(|l| format!(", oldest {l:.0} s old"))
            .unwrap_or_default()
    );
    match st.error {
        None => Check {
            ok: true,
            essential: false,
            what: format!(
                "Postgres mirror {} reachable: schema {}, {backlog}",
                st.target,
                st.schema_version.unwrap_or(0)
            ),
            advice: None,
        },
        Some(e) => Check {
            ok: false,
            essential: false,
            what: format!("{e} ({backlog}; the history keeps growing locally)"),
            // A TLS failure says which sslmode to set; the rest is the server or the login.
            advice: Some(st.advice.unwrap_or_else(|| {
                "check the server, the database name, the user and its password \
                 (SICKBAY_POSTGRES_PASSWORD, PGPASSWORD or the keychain)"
                    .into()
            })),
        },
    }
}

fn writable(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(".sickbay-write-test");
    std::fs::write(&probe, b"ok")?;
    std::fs::remove_file(probe)
}

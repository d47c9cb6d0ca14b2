//! A real PostgreSQL server of the test's own: `initdb` into a fresh folder, started on a free
//! loopback port with password authentication, stopped and removed on drop. Tests may stop and
//! start it to cut the mirror off. Uses Debian's `postgresql` package (scripts/setup.sh --test).
//! With [`Tls`], it serves TLS as Debian and Ubuntu ship it: `ssl = on` and a self-signed
//! certificate valid for `localhost` only.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

pub const PASSWORD: &str = "sickbay-test-pw";

pub struct PgServer {
    pub dir: PathBuf,
    pub port: u16,
    tls: Tls,
}

/// How the server speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// `ssl = off`: plain text only.
    Off,
    /// `ssl = on` with a self-signed certificate for `localhost`; plain text still accepted.
    On,
    /// As `On`, but `pg_hba.conf` accepts TCP connections over TLS only (`hostssl`).
    Required,
}

/// The newest PostgreSQL's programs (`/usr/lib/postgresql/N/bin` on Debian).
fn bin(name: &str) -> PathBuf {
    let mut versions: Vec<u32> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (scripts/setup.sh --test)")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    versions.sort_unstable();
    let v = versions.last().expect("a PostgreSQL version");
    PathBuf::from(format!("/usr/lib/postgresql/{v}/bin/{name}"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a PostgreSQL program as the `postgres` user when the tests run as root (the server
/// refuses to run as root).
fn as_owner(program: PathBuf) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn ok(what: &str, out: Output) -> Output {
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl PgServer {
    /// A server without TLS.
    pub fn start() -> Self {
        Self::start_with(Tls::Off)
    }

    pub fn start_with(tls: Tls) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "sickbay-pg-{}-{:06x}",
            std::process::id(),
            fastrand::u32(..0xff_ffff)
        ));
        std::fs::create_dir_all(&dir).expect("server folder");
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, PASSWORD).expect("password file");
        if tls != Tls::Off {
            // As Debian's snakeoil certificate: self-signed, not a CA, named for localhost.
            ok(
                "openssl req",
                Command::new("openssl")
                    .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes"])
                    .args(["-subj", "/CN=localhost", "-days", "2"])
                    .args(["-addext", "basicConstraints=critical,CA:FALSE"])
                    .args(["-addext", "subjectAltName=DNS:localhost"])
                    .arg("-keyout")
                    .arg(dir.join("server.key"))
                    .arg("-out")
                    .arg(dir.join("server.crt"))
                    .stdin(Stdio::null())
                    .output()
                    .expect("run openssl"),
            );
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                dir.join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )
            .expect("key mode 0600");
        }
        if is_root() {
            ok(
                "chown",
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&dir)
                    .output()
                    .expect("chown"),
            );
        }
        ok(
            "initdb",
            as_owner(bin("initdb"))
                .arg("-D")
                .arg(dir.join("data"))
                .args(["-U", "postgres", "--auth=scram-sha-256", "--pwfile"])
                .arg(&pwfile)
                .stdin(Stdio::null())
                .output()
                .expect("run initdb"),
        );
        if tls == Tls::Required {
            std::fs::write(
                dir.join("data/pg_hba.conf"),
                "local all all scram-sha-256\n\
                 hostssl all all 127.0.0.1/32 scram-sha-256\n\
                 hostssl all all ::1/128 scram-sha-256\n",
            )
            .expect("pg_hba.conf");
        }
        let server = Self {
            dir,
            port: free_port(),
            tls,
        };
        server.resume();
        server
    }

    /// The server's certificate (self-signed, for `localhost`), with TLS on.
    pub fn cert(&self) -> PathBuf {
        self.dir.join("server.crt")
    }

    /// Starts (again) the server.
    pub fn resume(&self) {
        let ssl = match self.tls {
            Tls::Off => String::new(),
            Tls::On | Tls::Required => format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                self.cert().display(),
                self.dir.join("server.key").display()
            ),
        };
        ok(
            "pg_ctl start",
            as_owner(bin("pg_ctl"))
                .arg("-D")
                .arg(self.dir.join("data"))
                .arg("-l")
                .arg(self.dir.join("server.log"))
                .arg("-o")
                .arg(format!(
                    "-p {} -c listen_addresses=127.0.0.1 -k {}{ssl}",
                    self.port,
                    self.dir.display()
                ))
                .args(["-w", "start"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .output()
                .expect("run pg_ctl"),
        );
    }

    /// Stops the server at once (connections are cut, as in an outage).
    pub fn halt(&self) {
        ok(
            "pg_ctl stop",
            as_owner(bin("pg_ctl"))
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-m", "fast", "-w", "stop"])
                .output()
                .expect("run pg_ctl"),
        );
    }

    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres:{PASSWORD}@127.0.0.1:{}/{db}",
            self.port
        )
    }

    /// Whether the connections of `sickbay` (its `application_name`) are encrypted, as the
    /// server sees them: one `t` or `f` per connection, sorted.
    pub fn sickbay_ssl(&self) -> String {
        self.psql(
            "postgres",
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = 'sickbay' ORDER BY 1",
        )
    }

    /// Runs SQL with psql and returns its unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new("psql")
            .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .arg(self.url(db))
            .output()
            .expect("run psql");
        String::from_utf8_lossy(&ok(&format!("psql {sql}"), out).stdout)
            .trim()
            .to_string()
    }

    /// Rows in `table`, 0 while the table does not exist yet.
    pub fn count(&self, db: &str, table: &str) -> i64 {
        Command::new("psql")
            .args(["-X", "-At", "-c", &format!("SELECT COUNT(*) FROM {table}")])
            .arg(self.url(db))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(0)
    }

    pub fn create_db(&self, db: &str) {
        self.psql("postgres", &format!("CREATE DATABASE {db}"));
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = as_owner(bin("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Writes `count` metric samples of 50 containers (one every 30 s each, ending now) straight
/// into a history whose mirror is enabled: a backlog the mirror has not sent yet.
pub fn queue_metrics_backlog(db: &std::path::Path, count: u32) {
    let mut conn = rusqlite::Connection::open(db).expect("open sickbay.db");
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .expect("busy timeout");
    let tx = conn.transaction().expect("transaction");
    // Recent enough for the local retention (7 days) to keep them all.
    let now = chrono::Utc::now();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO monitor_health_metrics (uid, timestamp, container_name, container_id,
                   state, health, restart_count, cpu_percent, mem_mb, mem_limit_mb,
                   response_time_ms, http_status)
                 VALUES (?1, ?2, ?3, 'c0ffee', 'running', 'healthy', 0, 2.5, 150.25, 512.0,
                         12.5, 200)",
            )
            .expect("prepare");
        for i in 0..count {
            insert
                .execute(rusqlite::params![
                    format!("backlog-{i:08}"),
                    (now - chrono::Duration::seconds(i64::from(i / 50) * 30))
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    format!("svc-{}", i % 50),
                ])
                .expect("insert");
        }
    }
    tx.commit().expect("commit");
}

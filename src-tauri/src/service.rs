//! Sickbay as a systemd service: the unit (`unit`, one text for the packages' system unit
//! and `sickbay service install`), and installing, removing and asking about it through
//! `systemctl`. The unit runs `sickbay watch`, restarts it on failure, reloads its settings on
//! `systemctl reload` (`SIGHUP`, `config::live`), and is hardened as far as it can be while it
//! still reaches the Docker socket (the `docker` group) and writes its data folder.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::EXAMPLE_CONFIG;

/// The unit's file name.
pub const UNIT: &str = "sickbay.service";

/// Which systemd manager runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The system's: a user of its own (`sickbay`) in the `docker` group, data in
    /// `/var/lib/sickbay`, settings in `/etc/sickbay/sickbay.toml`.
    System,
    /// The user's own manager (`systemctl --user`): the user's data and settings folders.
    User,
}

/// Where a system service keeps its data and reads its settings.
pub const SYSTEM_DATA: &str = "/var/lib/sickbay";
pub const SYSTEM_CONFIG: &str = "/etc/sickbay/sickbay.toml";

/// What goes into a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub scope: Scope,
    /// The `sickbay` program.
    pub exe: PathBuf,
    /// A configuration file of the user's (user units; the system's is [`SYSTEM_CONFIG`]).
    pub config: Option<PathBuf>,
    /// A data folder of the user's (user units; the system's is [`SYSTEM_DATA`]).
    pub data: Option<PathBuf>,
}

/// systemd's quoting of one word: of a command line (`exec`: `$` is expanded there, so it is
/// doubled) or of an `Environment=` assignment (where it is not).
fn quoted(word: &str, exec: bool) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c))
    {
        return word.to_string();
    }
    let mut escaped = word
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%");
    if exec {
        escaped = escaped.replace('$', "$$");
    }
    format!("\"{escaped}\"")
}

/// The system service's user, for `systemd-sysusers` (packaging/sickbay.sysusers): its home is
/// the data folder; it may use Docker through the unit's `SupplementaryGroups=docker`.
pub const SYSUSERS: &str =
    "u sickbay - \"Sickbay, the Docker stack's watcher\" /var/lib/sickbay /usr/sbin/nologin\n";

impl Unit {
    /// The unit file's text.
    pub fn text(&self) -> String {
        let exe = quoted(&self.exe.display().to_string(), true);
        let mut env = Vec::new();
        let (config, data) = match self.scope {
            Scope::System => (
                Some(PathBuf::from(SYSTEM_CONFIG)),
                Some(PathBuf::from(SYSTEM_DATA)),
            ),
            Scope::User => (self.config.clone(), self.data.clone()),
        };
        if let Some(c) = &config {
            env.push(format!(
                "Environment={}\n",
                quoted(&format!("SICKBAY_CONFIG={}", c.display()), false)
            ));
        }
        if let Some(d) = &data {
            env.push(format!(
                "Environment={}\n",
                quoted(&format!("SICKBAY_DATA_DIR={}", d.display()), false)
            ));
        }
        let env: String = env.concat();
        let (after, wanted_by, own) = match self.scope {
            Scope::System => (
                "docker.service network-online.target",
                "multi-user.target",
                "\
# A user of its own (sysusers.d/sickbay.conf), in the group that may use the Docker socket;
# the settings are root's, readable by its group (0640 root:sickbay).
User=sickbay
Group=sickbay
SupplementaryGroups=docker
StateDirectory=sickbay
StateDirectoryMode=0700
ConfigurationDirectory=sickbay
",
            ),
            Scope::User => ("network-online.target", "default.target", ""),
        };
        // What a user's manager can enforce without user namespaces, then what only the
        // system's can.
        let mut hardening = String::from(
            "\
UMask=0077
NoNewPrivileges=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
SystemCallArchitectures=native
",
        );
        if self.scope == Scope::System {
            hardening.push_str(
                "\
# It needs the Docker socket, its data folder, the network (an LLM, Postgres, a webhook),
# /proc and the cgroup files (read only), compose files (read only) and its lock in /run/lock.
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths=-/run/lock
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
SystemCallFilter=@system-service
SystemCallFilter=~@privileged
SystemCallErrorNumber=EPERM
CapabilityBoundingSet=
AmbientCapabilities=
",
            );
        }
        format!(
            "\
# Sickbay: watches the Docker engine's containers, heals simple failures and records and
# escalates the rest. `systemctl reload` reads the settings again.
[Unit]
Description=Sickbay, the Docker stack's watcher and healer
Documentation=man:sickbay(1)
After={after}
Wants=network-online.target

[Service]
Type=exec
ExecStart={exe} watch
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=5s
{env}{own}{hardening}
[Install]
WantedBy={wanted_by}
"
        )
    }
}

/// Where the unit file goes.
pub fn unit_path(scope: Scope) -> Result<PathBuf, String> {
    match scope {
        Scope::System => Ok(PathBuf::from("/etc/systemd/system").join(UNIT)),
        Scope::User => {
            // `XDG_CONFIG_HOME`, else ~/.config: where systemd looks for a user's units.
            let base = directories::BaseDirs::new()
                .ok_or("cannot tell where your user's systemd units go (no home folder)")?;
            Ok(base.config_dir().join("systemd/user").join(UNIT))
        }
    }
}

/// `systemctl` for `scope`, its output kept; `Err` says what failed, with systemd's words.
fn systemctl(scope: Scope, args: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new("systemctl");
    if scope == Scope::User {
        cmd.arg("--user");
    }
    let shown = format!(
        "systemctl{} {}",
        if scope == Scope::User { " --user" } else { "" },
        args.join(" ")
    );
    let out = cmd
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("`{shown}` failed: {}", text.trim()))
    }
}

/// What `install` did.
#[derive(Debug)]
pub struct Installed {
    pub unit: PathBuf,
    /// The example settings written for a system service that had none.
    pub config_written: Option<PathBuf>,
    /// `Err`: the unit is in place but systemd could not be asked to start it (why, and how).
    pub started: Result<(), String>,
    /// What would keep the service from starting, found before.
    pub warnings: Vec<String>,
}

/// Makes the system service's user (`systemd-sysusers`, else `useradd`).
fn make_user() -> Result<(), String> {
    if known("passwd", "sickbay") {
        return Ok(());
    }
    let _ = Command::new("systemd-sysusers")
        .args(["--inline", SYSUSERS.trim_end()])
        .output();
    if known("passwd", "sickbay") {
        return Ok(());
    }
    // A group of the name may be there already (useradd's --user-group then refuses).
    let group: &[&str] = if known("group", "sickbay") {
        &["-g", "sickbay"]
    } else {
        &["--user-group"]
    };
    let out = Command::new("useradd")
        .arg("--system")
        .args(group)
        .args(["--home-dir", SYSTEM_DATA, "--no-create-home"])
        .args(["--shell", "/usr/sbin/nologin", "sickbay"])
        .output()
        .map_err(|e| format!("cannot make the user sickbay: {e}"))?;
    if known("passwd", "sickbay") {
        Ok(())
    } else {
        Err(format!(
            "cannot make the user sickbay (systemd-sysusers, then useradd): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether the system's user or group database (`getent`: also LDAP, sssd) knows `name`.
fn known(database: &str, name: &str) -> bool {
    Command::new("getent")
        .args([database, name])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Writes the unit (and, for the system, the example settings when there are none), then has
/// systemd load it, enable it at boot (or login) and start it unless `start` is false.
pub fn install(unit: &Unit, start: bool) -> Result<Installed, String> {
    let path = unit_path(unit.scope)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot make the folder {}: {e}", dir.display()))?;
    }
    let mut config_written = None;
    let mut warnings = Vec::new();
    if unit.scope == Scope::System {
        make_user()?;
        if !known("group", "docker") {
            warnings.push(
                "there is no docker group: the service cannot start until Docker is installed \
                 (its socket's group)"
                    .to_string(),
            );
        }
        if ["/home/", "/root/"].iter().any(|h| unit.exe.starts_with(h)) {
            warnings.push(format!(
                "the service's user cannot reach {} in a home folder: install the program \
                 in /usr/local/bin first",
                unit.exe.display()
            ));
        }
    }
    if unit.scope == Scope::System && !Path::new(SYSTEM_CONFIG).exists() {
        let c = Path::new(SYSTEM_CONFIG);
        if let Some(dir) = c.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot make the folder {}: {e}", dir.display()))?;
        }
        std::fs::write(c, EXAMPLE_CONFIG)
            .map_err(|e| format!("cannot write {}: {e}", c.display()))?;
        // Secrets may go in it (a webhook's path, a Postgres password): root's, and the
        // service's group reads it.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(c, std::fs::Permissions::from_mode(0o640));
        }
        if !Command::new("chgrp")
            .arg("sickbay")
            .arg(c)
            .status()
            .is_ok_and(|s| s.success())
        {
            warnings.push(format!(
                "cannot give {} to the group sickbay: the service cannot read it until \
                 `chgrp sickbay {0}`",
                c.display()
            ));
        }
        config_written = Some(c.to_path_buf());
    } else if unit.scope == Scope::System {
        // The admin's own file: the service's user must be able to read it.
        #[cfg(unix)]
        {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            if let Ok(m) = std::fs::metadata(SYSTEM_CONFIG) {
                let mode = m.permissions().mode();
                if mode & 0o004 == 0 && (mode & 0o040 == 0 || m.gid() == 0) {
                    warnings.push(format!(
                        "{SYSTEM_CONFIG} is not readable by the user sickbay: \
                         `chgrp sickbay {SYSTEM_CONFIG} && chmod 0640 {SYSTEM_CONFIG}`"
                    ));
                }
            }
        }
    }
    std::fs::write(&path, unit.text())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let started = systemctl(unit.scope, &["daemon-reload"]).and_then(|_| {
        let mut args = vec!["enable"];
        if start {
            args.push("--now");
        }
        args.push(UNIT);
        systemctl(unit.scope, &args).map(|_| ())
    });
    Ok(Installed {
        unit: path,
        config_written,
        started,
        warnings,
    })
}

/// A unit file removed, and whether systemd stopped and disabled the service (why not).
pub type Removed = (PathBuf, Result<(), String>);

/// Stops and disables the service and removes its unit file; the data and settings stay.
/// `Ok(None)`: there was no unit file.
pub fn uninstall(scope: Scope) -> Result<Option<Removed>, String> {
    let path = unit_path(scope)?;
    if !path.exists() {
        return Ok(None);
    }
    let stopped = systemctl(scope, &["disable", "--now", UNIT]).map(|_| ());
    std::fs::remove_file(&path).map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
    let _ = systemctl(scope, &["daemon-reload"]);
    Ok(Some((path, stopped)))
}

/// The unit file (if any) and what systemd says of the service.
pub fn status(scope: Scope) -> Result<(Option<PathBuf>, Result<String, String>), String> {
    let path = unit_path(scope)?;
    let file = path.exists().then_some(path);
    let said = systemctl(scope, &["status", "--no-pager", "--lines=5", UNIT]);
    Ok((file, said))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_unit_runs_watch_in_the_docker_group_hardened() {
        let text = Unit {
            scope: Scope::System,
            exe: "/usr/bin/sickbay".into(),
            config: None,
            data: None,
        }
        .text();
        for line in [
            "ExecStart=/usr/bin/sickbay watch\n",
            "ExecReload=/bin/kill -HUP $MAINPID\n",
            "Restart=on-failure\n",
            "User=sickbay\n",
            "SupplementaryGroups=docker\n",
            "Environment=SICKBAY_CONFIG=/etc/sickbay/sickbay.toml\n",
            "Environment=SICKBAY_DATA_DIR=/var/lib/sickbay\n",
            "StateDirectory=sickbay\n",
            "ProtectSystem=strict\n",
            "After=docker.service network-online.target\n",
            "WantedBy=multi-user.target\n",
        ] {
            assert!(text.contains(line), "{line:?} missing in\n{text}");
        }
    }

    #[test]
    fn the_packages_sysusers_file_is_the_one_install_uses() {
        assert_eq!(include_str!("../../packaging/sickbay.sysusers"), SYSUSERS);
    }

    #[test]
    fn the_packages_unit_is_the_one_install_writes() {
        let shipped = include_str!("../../packaging/sickbay.service");
        let made = Unit {
            scope: Scope::System,
            exe: "/usr/bin/sickbay".into(),
            config: None,
            data: None,
        }
        .text();
        assert_eq!(
            shipped, made,
            "packaging/sickbay.service is out of date: write it with `sickbay service unit`"
        );
    }

    #[test]
    fn paths_with_spaces_and_dollars_are_quoted_as_systemd_reads_them() {
        let text = Unit {
            scope: Scope::User,
            exe: "/home/me/my apps/sickbay".into(),
            config: Some("/home/me/$cfg/sickbay.toml".into()),
            data: None,
        }
        .text();
        assert!(
            text.contains("ExecStart=\"/home/me/my apps/sickbay\" watch\n"),
            "{text}"
        );
        assert!(
            text.contains("Environment=\"SICKBAY_CONFIG=/home/me/$cfg/sickbay.toml\"\n"),
            "{text}"
        );
        assert!(!text.contains("User=sickbay"), "{text}");
        assert!(text.contains("WantedBy=default.target\n"), "{text}");
    }
}

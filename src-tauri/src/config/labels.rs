//! Container labels → [`Policy`]: the one reader of the `sickbay.*` and `autoheal*` labels
//! (and of the label selector's matching). Every other module asks [`Policy`]. It must not
//! act on containers.

use super::*;

/// How Sickbay may act on one container, from its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `sickbay.enable=false`: not watched at all.
    pub watched: bool,
    /// `sickbay.heal=none` (or `autoheal=false`): watched and recorded, never acted on.
    pub heal: bool,
    /// `sickbay.health_url`: probed over HTTP each sweep.
    pub health_url: Option<String>,
    /// `sickbay.cache_paths`: cleared inside the container as the first heal step.
    pub cache_paths: Vec<String>,
    /// `sickbay.stop_timeout` or `autoheal.stop.timeout`, else the configured default.
    pub stop_timeout_seconds: u64,
    /// `sickbay.heal=restart,recreate`, else `[heal] steps`: the rungs after the cache clear,
    /// in the ladder's order, only those that apply (`recreate` and `rebuild` need a compose
    /// service).
    pub steps: Vec<Step>,
    /// `sickbay.depends_on=name,name`: containers (or services of the same compose project)
    /// this one needs, beyond what Docker and compose tell.
    pub depends_on: Vec<String>,
}

/// A label Sickbay could not use; the rest of the container's labels still apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("label `{label}={value}`: {problem}")]
pub struct LabelError {
    pub label: String,
    pub value: String,
    pub problem: String,
}

impl Policy {
    /// Reads a container's labels. Bad labels are reported and ignored, never fatal.
    pub fn from_labels(labels: &HashMap<String, String>, heal: &Heal) -> (Self, Vec<LabelError>) {
        let mut errors = Vec::new();
        let mut bad = |label: &str, value: &str, problem: String| {
            errors.push(LabelError {
                label: label.to_string(),
                value: value.to_string(),
                problem,
            })
        };
        let mut policy = Policy {
            watched: true,
            heal: heal.enabled,
            health_url: None,
            cache_paths: Vec::new(),
            stop_timeout_seconds: heal.stop_timeout_seconds,
            steps: Vec::new(),
            depends_on: Vec::new(),
        };
        let compose = labels
            .get("com.docker.compose.service")
            .is_some_and(|s| !s.trim().is_empty());
        let mut steps = heal.steps.clone();
        match Self::read_enable(labels) {
            Ok(watched) => policy.watched = watched,
            Err(e) => bad(&e.label, &e.value, e.problem),
        }
        if let Some(v) = labels.get("autoheal") {
            match parse_bool(v) {
                Some(b) => policy.heal = policy.heal && b,
                None => bad("autoheal", v, "expected true or false".into()),
            }
        }
        if let Some(v) = labels.get("sickbay.heal") {
            let names: Vec<&str> = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            let parsed: Option<Vec<Step>> = names.iter().map(|n| Step::parse(n)).collect();
            match parsed {
                _ if names == ["none"] => policy.heal = false,
                Some(list) if !list.is_empty() => {
                    let unusable: Vec<&str> = list
                        .iter()
                        .filter(|s| s.needs_compose() && !compose)
                        .map(|s| s.as_str())
                        .collect();
                    if !unusable.is_empty() {
                        bad(
                            "sickbay.heal",
                            v,
                            format!(
                                "`{}` needs a compose service and the container has no \
                                 `com.docker.compose.service` label",
                                unusable.join("`, `")
                            ),
                        );
                    }
                    steps = list;
                }
                _ => bad(
                    "sickbay.heal",
                    v,
                    "expected `none` or a list of heal steps (`restart`, `recreate`, `rebuild`)"
                        .into(),
                ),
            }
        }
        steps.retain(|s| compose || !s.needs_compose());
        steps.sort();
        steps.dedup();
        policy.steps = steps;
        match Self::read_health_url(labels) {
            Ok(url) => policy.health_url = url,
            Err(e) => bad(&e.label, &e.value, e.problem),
        }
        if let Some(v) = labels.get("sickbay.cache_paths") {
            for path in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                match validate_cache_path(path) {
                    Ok(()) => policy.cache_paths.push(path.to_string()),
                    Err(problem) => bad("sickbay.cache_paths", v, problem),
                }
            }
        }
        if let Some(v) = labels.get("sickbay.depends_on") {
            for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                if crate::domain::model::is_container_name(name) {
                    policy.depends_on.push(name.to_string());
                } else {
                    bad(
                        "sickbay.depends_on",
                        v,
                        format!(
                            "`{}` is not a container or service name (letters, digits, \
                             `_`, `.` and `-`, starting with a letter or digit)",
                            crate::domain::escape::line(name)
                        ),
                    );
                }
            }
        }
        for label in ["autoheal.stop.timeout", "sickbay.stop_timeout"] {
            if let Some(v) = labels.get(label) {
                match v.trim().parse::<u64>() {
                    Ok(n) => policy.stop_timeout_seconds = n,
                    Err(_) => bad(label, v, "expected a whole number of seconds".into()),
                }
            }
        }
        (policy, errors)
    }
}

impl Policy {
    /// Whether the container is watched at all: `sickbay.enable`, absent meaning yes. A value
    /// that is not a boolean is reported by [`Policy::from_labels`] and leaves it watched.
    pub fn watched(labels: &HashMap<String, String>) -> bool {
        Self::read_enable(labels).unwrap_or(true)
    }

    /// The one reader of `sickbay.enable`.
    fn read_enable(labels: &HashMap<String, String>) -> Result<bool, LabelError> {
        match labels.get("sickbay.enable") {
            None => Ok(true),
            Some(v) => parse_bool(v).ok_or_else(|| LabelError {
                label: "sickbay.enable".into(),
                value: v.clone(),
                problem: "expected true or false".into(),
            }),
        }
    }

    /// The one reader of `sickbay.health_url`: the URL to probe, checked and trimmed, if the
    /// container has one.
    pub fn read_health_url(labels: &HashMap<String, String>) -> Result<Option<String>, LabelError> {
        let Some(v) = labels.get("sickbay.health_url") else {
            return Ok(None);
        };
        match validate_url(v) {
            Ok(()) => Ok(Some(v.trim().to_string())),
            Err(problem) => Err(LabelError {
                label: "sickbay.health_url".into(),
                value: v.clone(),
                problem,
            }),
        }
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Some(true),
        "false" | "no" | "0" | "off" => Some(false),
        _ => None,
    }
}

pub(super) fn validate_url(v: &str) -> Result<(), String> {
    let v = v.trim();
    let rest = v
        .strip_prefix("http://")
        .or_else(|| v.strip_prefix("https://"))
        .ok_or_else(|| "expected an http:// or https:// URL".to_string())?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err("the URL has no host".into());
    }
    Ok(())
}

/// A cache path must be absolute, plain, and not a system or root folder: clearing it
/// must never be able to destroy the container's data.
pub fn validate_cache_path(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err(format!("`{p}` is not an absolute path"));
    }
    if p.split('/').any(|c| c == ".." || c == ".") {
        return Err(format!("`{p}` contains `.` or `..`"));
    }
    if p.chars().any(|c| c.is_control() || c == '*' || c == '?') {
        return Err(format!("`{p}` contains wildcards or control characters"));
    }
    let trimmed = p.trim_end_matches('/');
    const FORBIDDEN: &[&str] = &[
        "", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc", "/root",
        "/run", "/sbin", "/srv", "/sys", "/usr", "/var", "/var/lib", "/data",
    ];
    if FORBIDDEN.contains(&trimmed) {
        return Err(format!("`{p}` is a system or data folder, not a cache"));
    }
    Ok(())
}

/// Whether a container's labels match the configured selector.
pub fn selector_matches(selector: &[String], labels: &HashMap<String, String>) -> bool {
    selector.iter().all(|sel| match sel.split_once('=') {
        Some((k, v)) => labels.get(k.trim()).is_some_and(|x| x == v.trim()),
        None => labels.contains_key(sel.trim()),
    })
}

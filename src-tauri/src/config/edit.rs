//! Changes to the configuration file from the app (the dashboard's settings and first-run
//! setup): each change is written into the file as it is, keeping its comments, order and
//! layout (toml_edit), and the whole new text must pass the same checks as the loader
//! ([`Settings::parse`]) before anything is written. The file is replaced in one step (a
//! temporary file beside it, renamed), so a crash never leaves half a file.

use std::path::Path;

use toml_edit::{value, Array, DocumentMut, Item, Table};

use super::{ConfigError, Settings};

/// One key to set, `section.key`, with the value as a person typed it; its type is the
/// setting's own (a number, true/false, a list of words separated by commas, or text).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Change {
    pub key: String,
    pub value: String,
}

/// The keys that cannot be set from the app: tables of their own (`[[maintenance]]`) are
/// edited in the file.
fn editable(section: &str) -> bool {
    section != "maintenance"
}

/// Writes `changes` into the configuration file at `path` (made if it does not exist yet) and
/// returns the settings it held before and those it holds now. Nothing is written when a change is refused: an unknown
/// key, a value of the wrong type, or a value the loader's checks refuse (the error names the
/// file, the line and the key, as at start).
pub fn apply(path: &Path, changes: &[Change]) -> Result<(Settings, Settings), ConfigError> {
    // A link (dotfiles kept elsewhere) stays a link: its target is what changes.
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let path = target.as_path();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(error(path, None, format!("cannot read the file: {e}"))),
    };
    let new = edited(&text, path, changes)?;
    let mut before = Settings::parse(&text, path)?;
    let mut settings = Settings::parse(&new, path)?;
    write(path, &new).map_err(|e| error(path, None, format!("cannot write the file: {e}")))?;
    before.apply_environment();
    settings.apply_environment();
    Ok((before, settings))
}

/// `text` with `changes` made, checked as the loader checks a file.
pub fn edited(text: &str, path: &Path, changes: &[Change]) -> Result<String, ConfigError> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| error(path, None, e.message().trim().to_string()))?;
    // What each key holds now (the defaults where the file says nothing): its type.
    let current = toml::Table::try_from(Settings::parse(text, path)?)
        .map_err(|e| error(path, None, e.to_string()))?;
    for c in changes {
        let key = Some(c.key.clone());
        let (section, name) = c
            .key
            .split_once('.')
            .filter(|(s, _)| editable(s))
            .ok_or_else(|| error(path, key.clone(), "not a setting the app can change".into()))?;
        let now = current
            .get(section)
            .and_then(|t| t.as_table())
            .and_then(|t| t.get(name))
            .ok_or_else(|| error(path, key.clone(), "no such setting".into()))?;
        let item = typed(now, c.value.trim()).map_err(|m| error(path, key.clone(), m))?;
        if !doc.contains_key(section) {
            doc.insert(section, Item::Table(Table::new()));
        }
        let table = doc[section]
            .as_table_like_mut()
            .ok_or_else(|| error(path, key.clone(), format!("[{section}] is not a table")))?;
        match table.get_mut(name).and_then(Item::as_value_mut) {
            // The value replaced, its comments and spacing kept.
            Some(old) => {
                let decor = old.decor().clone();
                let mut new = item
                    .into_value()
                    .map_err(|_| error(path, key.clone(), "cannot be written as a value".into()))?;
                *new.decor_mut() = decor;
                *old = new;
            }
            None => {
                table.insert(name, item);
            }
        }
    }
    Ok(doc.to_string())
}

/// `text` as a value of the type `now` has.
fn typed(now: &toml::Value, text: &str) -> Result<Item, String> {
    Ok(match now {
        toml::Value::Boolean(_) => match text {
            "true" | "yes" | "on" => value(true),
            "false" | "no" | "off" => value(false),
            _ => return Err(format!("expected true or false, found {text:?}")),
        },
        toml::Value::Integer(_) => value(
            text.parse::<i64>()
                .map_err(|_| format!("expected a whole number, found {text:?}"))?,
        ),
        toml::Value::Float(_) => value(
            text.parse::<f64>()
                .map_err(|_| format!("expected a number, found {text:?}"))?,
        ),
        // A TOML array as written (`["a,b", "c"]`: a regular expression may hold a comma), or
        // words separated by commas.
        toml::Value::Array(_) if text.starts_with('[') => {
            let doc: DocumentMut = format!("v = {text}")
                .parse()
                .map_err(|_| format!("expected a list such as [\"a\", \"b\"], found {text}"))?;
            doc.get("v").cloned().unwrap_or_else(|| value(Array::new()))
        }
        toml::Value::Array(_) => {
            let mut a = Array::new();
            for w in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
                a.push(w);
            }
            value(a)
        }
        _ => value(text),
    })
}

fn error(path: &Path, key: Option<String>, message: String) -> ConfigError {
    ConfigError {
        path: path.to_path_buf(),
        line: None,
        key,
        message,
    }
}

/// Replaces the file at once: a temporary file in the same folder (private to the user, as a
/// configuration may name a webhook's secret path), then renamed over it.
fn write(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sickbay.toml".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    {
        use std::io::Write;
        let mut f = options.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(key: &str, value: &str) -> Change {
        Change {
            key: key.into(),
            value: value.into(),
        }
    }

    const FILE: &str = "# My Sickbay.\n\
                        [monitoring]\n\
                        # Every 10 s: the laptop is plugged in.\n\
                        interval_seconds = 10   # was 30\n\
                        \n\
                        [heal]\n\
                        max_attempts = 3\n";

    #[test]
    fn a_change_keeps_the_files_comments_and_layout_and_adds_what_is_missing() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("sickbay.toml");
        std::fs::write(&path, FILE).expect("write");
        let (before, settings) = apply(
            &path,
            &[
                change("monitoring.interval_seconds", "15"),
                change("stack.compose_file", "compose.yml"),
                change("notify.desktop", "false"),
                change(
                    "monitoring.label_selector",
                    "com.docker.compose.project=shop, tier",
                ),
                change("alerts.patterns", r#"["x{1,3}", "FATAL"]"#),
            ],
        )
        .expect("applied");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with("# My Sickbay.\n[monitoring]\n# Every 10 s: the laptop is plugged in.\ninterval_seconds = 15   # was 30\n"), "{text}");
        assert!(text.contains("[heal]\nmax_attempts = 3\n"), "{text}");
        assert!(
            text.contains("[stack]\ncompose_file = \"compose.yml\"\n"),
            "{text}"
        );
        assert_eq!(settings.monitoring.interval_seconds, 15);
        assert!(before.notify.desktop && before.monitoring.interval_seconds != 15);
        assert!(!settings.notify.desktop);
        assert_eq!(
            settings.monitoring.label_selector,
            ["com.docker.compose.project=shop", "tier"]
        );
        assert!(settings.stack.compose_file.ends_with("compose.yml"));
        assert_eq!(settings.alerts.patterns, ["x{1,3}", "FATAL"]);
    }

    #[test]
    fn a_refused_change_names_the_key_and_writes_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("sickbay.toml");
        std::fs::write(&path, FILE).expect("write");
        for (c, says) in [
            (
                change("heal.max_attempts", "three"),
                "expected a whole number",
            ),
            (
                change("monitoring.interval_seconds", "0"),
                "must be at least 1",
            ),
            (change("heal.no_such_key", "1"), "no such setting"),
            (change("nonsense", "1"), "not a setting the app can change"),
            (change("notify.desktop", "maybe"), "expected true or false"),
        ] {
            let e = apply(&path, std::slice::from_ref(&c)).expect_err("refused");
            let shown = e.to_string();
            assert!(shown.contains(says), "{shown}");
            assert!(shown.contains(&path.display().to_string()), "{shown}");
            assert!(shown.contains(&c.key) || c.key == "nonsense", "{shown}");
            assert_eq!(std::fs::read_to_string(&path).expect("read"), FILE);
        }
    }

    #[test]
    fn a_first_change_makes_the_file_private_to_its_user() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("config").join("sickbay.toml");
        apply(&path, &[change("stack.project_name", "shop")]).expect("applied");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "[stack]\nproject_name = \"shop\"\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers = std::fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .count();
        assert_eq!(leftovers, 1, "no temporary file left");
    }
}

//! Where in the TOML text a key is written: the line numbers every configuration error
//! names. Text only: it parses no value.

/// The 1-based line of byte `offset` in `text`, and the dotted key written on that line.
pub(super) fn key_at(text: &str, offset: usize) -> (usize, Option<String>) {
    let mut section = String::new();
    let mut line_no = 1;
    let mut line_start = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let end = line_start + line.len();
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
        }
        line_no = i + 1;
        if offset < end {
            let key = trimmed
                .split_once('=')
                .map(|(k, _)| k.trim().trim_matches('"').to_string())
                .filter(|k| !k.is_empty());
            let full = match (key, section.is_empty()) {
                (Some(k), true) => Some(k),
                (Some(k), false) => Some(format!("{section}.{k}")),
                (None, false) => Some(section.clone()),
                (None, true) => None,
            };
            return (line_no, full);
        }
        line_start = end;
    }
    (line_no, None)
}

/// The 1-based line where `key` is set inside `[section]`, if it is written in the file.
pub(super) fn locate(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            current = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        } else if current == section {
            if let Some((k, _)) = t.split_once('=') {
                if k.trim() == key {
                    return Some(i + 1);
                }
            }
        }
    }
    None
}

//! Text from outside Sickbay (a container's name, labels or output, a log line, an error or an
//! API's answer) made safe for Sickbay's own line-based files and the diagnostic log: every
//! control character is written visibly, so such text can neither end a line early (and
//! forge the next one) nor move the cursor, recolour or reorder what a terminal shows.
//!
//! The one place this is decided: `logfile::format_line` (every `logs/*.log` line), the
//! diagnostic log's field formatter in `telemetry`, `incident.md` outside its fences and
//! `redact::code_span` all go through [`line`].

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` must not appear raw in a line of a file: the C0 and C1 control characters
/// and DEL (newline, carriage return, ESC, NEL...), the Unicode line and paragraph
/// separators, and the bidirectional formatting characters (which reorder what is shown).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// `text` on one line, with each unsafe character written visibly: `\n`, `\r`, `\t`, `\xNN`
/// for the rest of ASCII's (`\x1b` for ESC, `\x7f` for DEL), `\u{NN}` for the others
/// (`\u{85}`, `\u{2028}`, `\u{202e}`). Everything else is kept as it is, backslashes too:
/// the point is that nothing hides, not that the text can be decoded back.
pub fn line(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Writing to a String cannot fail.
            c if c.is_ascii() && is_unsafe(c) => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_kept_and_not_copied() {
        let text = "container:web status:503 path:C:\\data ünïcødé 🚑";
        assert!(matches!(line(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn a_newline_cannot_start_a_forged_line() {
        let out = line("restart\n[2020-01-01T00:00:00] healing_failed container:web");
        assert_eq!(
            out,
            "restart\\n[2020-01-01T00:00:00] healing_failed container:web"
        );
        assert_eq!(out.lines().count(), 1);
    }

    #[test]
    fn carriage_returns_tabs_and_escape_sequences_are_visible() {
        assert_eq!(
            line("ok\r\x1b[2K\x1b]0;title\x07FATAL\tx\x00\x7f"),
            "ok\\r\\x1b[2K\\x1b]0;title\\x07FATAL\\tx\\x00\\x7f"
        );
    }

    #[test]
    fn c1_controls_separators_and_bidi_overrides_are_visible() {
        assert_eq!(
            line("a\u{85}b\u{9b}31m\u{2028}c\u{2029}d"),
            "a\\u{85}b\\u{9b}31m\\u{2028}c\\u{2029}d"
        );
        assert_eq!(
            line("user\u{202e}gnp.exe\u{2066}\u{200f}"),
            "user\\u{202e}gnp.exe\\u{2066}\\u{200f}"
        );
    }

    #[test]
    fn escaping_twice_changes_nothing_more() {
        let once = line("a\nb\x1bc\u{2028}").into_owned();
        assert_eq!(line(&once), once);
        assert!(!once.chars().any(is_unsafe));
    }
}

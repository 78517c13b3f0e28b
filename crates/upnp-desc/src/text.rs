//! Showing text that came from the network: a device's name, a fault's description, a URL.
//!
//! A device chooses these strings, so printed raw they could move the cursor, recolour a
//! terminal, forge a line of our output (a newline followed by `added UDP 7777 ...`) or flood
//! it. [`shown`] makes any such string safe to print on one line: control characters (C0, DEL,
//! C1), line and paragraph separators and bidirectional overrides become visible escapes
//! (`\n`, `\u{1b}`), and the length is bounded.
//!
//! ```
//! use upnp_desc::text::shown;
//!
//! assert_eq!(shown("Router\n\u{1b}[31madded UDP 1", 64), "Router\\n\\u{1b}[31madded UDP 1");
//! assert_eq!(shown(&"x".repeat(100), 8), "xxxxxxxx…");
//! ```

use std::fmt::Write;

/// How many characters of a received string are shown by default.
pub const MAX_SHOWN: usize = 256;

/// Whether a character must not reach a terminal as itself.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
        )
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// `text` made safe to print on one line: unsafe characters escaped, at most `max`
/// characters of it kept (an ellipsis marks a cut).
pub fn shown(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max.saturating_mul(4)));
    for (count, c) in text.chars().enumerate() {
        if count == max {
            out.push('…');
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push('\\'),
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_unsafe_survives() {
        let hostile = "a\r\nb\u{1b}[2J\u{7}\u{9b}31m\u{202e}evil\u{2028}z\u{0}";
        let safe = shown(hostile, MAX_SHOWN);
        assert!(!safe.chars().any(is_unsafe), "{safe:?}");
        assert_eq!(
            safe,
            "a\\r\\nb\\u{1b}[2J\\u{7}\\u{9b}31m\\u{202e}evil\\u{2028}z\\u{0}"
        );
        // Ordinary text, accents and all, is left as is.
        assert_eq!(shown("Box 7590 – Wohnzimmer", 64), "Box 7590 – Wohnzimmer");
    }

    #[test]
    fn length_is_bounded() {
        let long = "é".repeat(10_000);
        let safe = shown(&long, 10);
        assert_eq!(safe.chars().count(), 11);
        assert!(shown(&"\u{1b}".repeat(10_000), 10).len() < 100);
    }
}

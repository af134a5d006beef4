//! Completions as [`crate::Kernel::complete`] reports them.

use pykernel_protocol::Completions as WireCompletions;

/// How long [`crate::Kernel::complete`] waits for the runner's answer.
///
/// Completion serves a person pressing Tab: a slow answer is as useless as none, and a
/// runner busy in C code that holds the GIL must not freeze the caller.
pub const COMPLETE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Candidates for the text at a cursor.
///
/// Every match replaces the characters `cursor_start..cursor_end` of the completed code;
/// offsets count Unicode scalar values (`str::chars`), not bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Completions {
    /// The candidates, sorted; empty when there is nothing to offer.
    pub matches: Vec<String>,
    /// Where the replaced text starts, in characters.
    pub cursor_start: usize,
    /// Where the replaced text ends, in characters; at least `cursor_start`.
    pub cursor_end: usize,
}

impl Completions {
    /// The runner's answer for `code`, its offsets clamped into `code` so that callers
    /// can slice with them whatever the runner said.
    pub(crate) fn from_wire(wire: WireCompletions, code: &str, cursor: usize) -> Self {
        let len = code.chars().count();
        let clamp = |offset: u64| usize::try_from(offset).map_or(len, |offset| offset.min(len));
        let cursor_end = clamp(wire.cursor_end);
        let cursor_start = clamp(wire.cursor_start).min(cursor_end);
        if wire.matches.is_empty() {
            return Self {
                matches: Vec::new(),
                cursor_start: cursor.min(len),
                cursor_end: cursor.min(len),
            };
        }
        Self {
            matches: wire.matches,
            cursor_start,
            cursor_end,
        }
    }

    /// `cursor_start` and `cursor_end` as byte offsets into `code` (the code that was
    /// completed), for slicing and for editors that count bytes.
    pub fn byte_range(&self, code: &str) -> std::ops::Range<usize> {
        let byte = |chars: usize| {
            code.char_indices()
                .nth(chars)
                .map_or(code.len(), |(index, _)| index)
        };
        byte(self.cursor_start)..byte(self.cursor_end)
    }
}

#[cfg(test)]
mod tests {
    use pykernel_protocol::RequestId;

    use super::*;

    fn wire(matches: &[&str], cursor_start: u64, cursor_end: u64) -> WireCompletions {
        WireCompletions {
            id: RequestId::new("c-1"),
            matches: matches.iter().map(|m| (*m).to_owned()).collect(),
            cursor_start,
            cursor_end,
        }
    }

    fn check(wire: WireCompletions, code: &str, cursor: usize) -> String {
        let completions = Completions::from_wire(wire, code, cursor);
        let range = completions.byte_range(code);
        format!(
            "{:?} {}..{} replaces {:?}",
            completions.matches, completions.cursor_start, completions.cursor_end, &code[range]
        )
    }

    #[test]
    fn offsets_count_characters() {
        insta::assert_snapshot!(check(wire(&["éclair"], 2, 4), "x=éc", 4), @r#"["éclair"] 2..4 replaces "éc""#);
    }

    #[test]
    fn offsets_beyond_the_code_are_clamped() {
        insta::assert_snapshot!(check(wire(&["abc"], 9, u64::MAX), "ab", 2), @r#"["abc"] 2..2 replaces """#);
        insta::assert_snapshot!(check(wire(&["abc"], 2, 1), "ab", 2), @r#"["abc"] 1..1 replaces """#);
    }

    #[test]
    fn no_match_sits_at_the_cursor() {
        insta::assert_snapshot!(check(wire(&[], 0, 7), "🐍🐍", 1), @r#"[] 1..1 replaces """#);
    }
}

use std::fmt::Write as _;

use crate::clean::{TextCleaner, clean_text};

/// Each case cleaned whole and cleaned one character at a time (which must agree), as
/// `input => output` lines.
fn check(cases: &[&str]) -> String {
    let mut table = String::new();
    for case in cases {
        let whole = clean_text(case);
        let mut cleaner = TextCleaner::new();
        let mut split = String::new();
        for c in case.chars() {
            split.push_str(&cleaner.push(c.encode_utf8(&mut [0; 4])));
        }
        split.push_str(&cleaner.finish());
        assert_eq!(whole, split, "split pieces of {case:?} clean differently");
        writeln!(table, "{case:?} => {whole:?}").unwrap();
    }
    table
}

#[test]
fn reference_checklist_and_terminal_cases() {
    let table = check(&[
        // The reference's checklist, G5 and G12.
        "\u{1b}[31mred\r\n",
        "\u{1b}[31mhello\r\n",
        // Carriage-return overwrites: only a progress line's last state remains.
        "10%\r50%\r100%\n",
        "downloading 1/3\rdownloading 3/3\ndone\n",
        "a\r\nb\r\n",
        "trailing cr\r",
        "\rstarts with cr\n",
        // Escapes of every kind, and other control characters.
        "\u{1b}]0;title\u{7}text\n",
        "\u{1b}]8;;http://x\u{1b}\\link\u{1b}]8;;\u{1b}\\\n",
        "\u{1b}[1;32mbold green\u{1b}[0m \u{1b}[2Kcleared\n",
        "bell\u{7} nul\u{0} del\u{7f} c1\u{85}\n",
        "tab\tkept\n",
        "abc\u{8}\u{8}xy\n",
        "plain text, no newline",
        "ünïcödé\r✓\n",
    ]);
    insta::assert_snapshot!(table, @r#"
    "\u{1b}[31mred\r\n" => "red\n"
    "\u{1b}[31mhello\r\n" => "hello\n"
    "10%\r50%\r100%\n" => "100%\n"
    "downloading 1/3\rdownloading 3/3\ndone\n" => "downloading 3/3\ndone\n"
    "a\r\nb\r\n" => "a\nb\n"
    "trailing cr\r" => "trailing cr"
    "\rstarts with cr\n" => "starts with cr\n"
    "\u{1b}]0;title\u{7}text\n" => "text\n"
    "\u{1b}]8;;http://x\u{1b}\\link\u{1b}]8;;\u{1b}\\\n" => "link\n"
    "\u{1b}[1;32mbold green\u{1b}[0m \u{1b}[2Kcleared\n" => "bold green cleared\n"
    "bell\u{7} nul\0 del\u{7f} c1\u{85}\n" => "bell nul del c1\n"
    "tab\tkept\n" => "tab\tkept\n"
    "abc\u{8}\u{8}xy\n" => "axy\n"
    "plain text, no newline" => "plain text, no newline"
    "ünïcödé\r✓\n" => "✓\n"
    "#);
}

#[test]
fn pieces_split_inside_escapes_and_crlf_clean_like_the_whole() {
    let mut cleaner = TextCleaner::new();
    let pieces = [
        "a\u{1b}",
        "[3",
        "2mb\u{1b}]8;;http://x\u{1b}",
        "\\c\r",
        "\nnext 1\r",
        "next 2",
    ];
    let mut out = String::new();
    for piece in pieces {
        out.push_str(&cleaner.push(piece));
    }
    assert_eq!(out, "abc\n");
    assert_eq!(cleaner.pending(), "next 2");
    assert_eq!(cleaner.finish(), "next 2");
}

#[test]
fn a_line_longer_than_the_hold_is_passed_on_and_a_later_overwrite_starts_a_new_line() {
    let mut cleaner = TextCleaner::new();
    let long = "x".repeat(70_000);
    let passed = cleaner.push(&long);
    assert_eq!(passed.len(), 70_000);
    assert_eq!(cleaner.pending(), "");
    let rest = cleaner.push("\rdone\n");
    assert_eq!(rest, "\ndone\n");
}

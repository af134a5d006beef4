use crate::multiline::{PendingCell, needs_more};

/// Feeds `cell` line by line and shows, after each line, whether the REPL asks for more.
fn check(cell: &str) -> String {
    let lines: Vec<&str> = cell.split('\n').collect();
    let mut transcript = String::new();
    for index in 0..lines.len() {
        let verdict = if needs_more(&lines[..=index]) {
            "more"
        } else {
            "run"
        };
        transcript.push_str(&format!("{verdict:4} | {}\n", lines[index]));
    }
    transcript
}

#[test]
fn a_simple_statement_runs_at_once() {
    insta::assert_snapshot!(check("x = 1"), @"run  | x = 1");
}

#[test]
fn open_brackets_continue_until_closed() {
    insta::assert_snapshot!(check("xs = [1,\n  (2,\n   3)]\ny"), @r"
    more | xs = [1,
    more |   (2,
    run  |    3)]
    run  | y
    ");
}

#[test]
fn a_block_header_continues_until_a_blank_line() {
    insta::assert_snapshot!(check("def f(x):\n    return x\n\n"), @r"
    more | def f(x):
    more |     return x
    run  | 
    run  |
    ");
}

#[test]
fn a_colon_inside_brackets_is_not_a_block() {
    insta::assert_snapshot!(check("d = {\n  'a':\n  1}"), @r"
    more | d = {
    more |   'a':
    run  |   1}
    ");
}

#[test]
fn colons_and_brackets_in_strings_and_comments_do_not_count() {
    insta::assert_snapshot!(check("s = 'a:(' # open: [\nt = \"\"\"x\n):\n\"\"\""), @r#"
    run  | s = 'a:(' # open: [
    more | t = """x
    more | ):
    run  | """
    "#);
}

#[test]
fn a_trailing_backslash_continues_the_line() {
    insta::assert_snapshot!(check("x = 1 + \\\n  2"), @r"
    more | x = 1 + \
    run  |   2
    ");
}

#[test]
fn decorators_and_cell_magics_are_blocks() {
    insta::assert_snapshot!(check("@decorator\ndef f(): pass\n"), @r"
    more | @decorator
    more | def f(): pass
    run  |
    ");
    insta::assert_snapshot!(check("%%bash\necho hi\n"), @r"
    more | %%bash
    more | echo hi
    run  |
    ");
}

#[test]
fn a_one_line_compound_statement_runs_at_once() {
    insta::assert_snapshot!(check("for i in range(3): print(i)"), @"run  | for i in range(3): print(i)");
}

#[test]
fn escaped_quotes_stay_inside_the_string() {
    insta::assert_snapshot!(check("s = 'it\\'s ('\ns"), @r"
    run  | s = 'it\'s ('
    run  | s
    ");
}

#[test]
fn a_backslash_inside_a_single_quoted_string_continues_it() {
    insta::assert_snapshot!(check("s = 'a\\\nb'"), @r"
    more | s = 'a\
    run  | b'
    ");
}

#[test]
fn an_empty_triple_quoted_string_is_closed() {
    insta::assert_snapshot!(check("s = \"\"\"\"\"\""), @r#"run  | s = """""""#);
}

/// Feeds editor entries (a typed line, or a paste with `\n`s) one by one and shows what
/// each gave: `more` (the prompt continues) or the complete cell.
fn check_entries(entries: &[&str]) -> String {
    let mut cell = PendingCell::default();
    let mut transcript = String::new();
    for entry in entries {
        match cell.add(entry) {
            Some(code) => transcript.push_str(&format!("{entry:?} => run {code:?}\n")),
            None => transcript.push_str(&format!("{entry:?} => more\n")),
        }
    }
    transcript
}

#[test]
fn typed_lines_make_cells_one_after_another() {
    insta::assert_snapshot!(check_entries(&["", "a = 1", "for i in x:", "    f(i)", "", "b"]), @r#"
    "" => more
    "a = 1" => run "a = 1"
    "for i in x:" => more
    "    f(i)" => more
    "" => run "for i in x:\n    f(i)"
    "b" => run "b"
    "#);
}

#[test]
fn a_paste_is_judged_as_a_whole() {
    // Its inner blank line does not end the class; its last line decides.
    insta::assert_snapshot!(check_entries(&["class A:\n    x = 1\n\n    y = 2\n"]), @r#""class A:\n    x = 1\n\n    y = 2\n" => run "class A:\n    x = 1\n\n    y = 2""#);
    // A block pasted without its closing blank line waits for one, as if typed.
    insta::assert_snapshot!(check_entries(&["\nif a:\n    b()\nelse:\n    c()", ""]), @r#"
    "\nif a:\n    b()\nelse:\n    c()" => more
    "" => run "if a:\n    b()\nelse:\n    c()"
    "#);
    // A comment on one pasted line does not hide the bracket opened on the next.
    insta::assert_snapshot!(check_entries(&["x = 1  # note\ny = (1,", "2)"]), @r#"
    "x = 1  # note\ny = (1," => more
    "2)" => run "x = 1  # note\ny = (1,\n2)"
    "#);
}

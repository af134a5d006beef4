use crate::multiline::needs_more;

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

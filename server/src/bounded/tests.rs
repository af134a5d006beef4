use std::fs;

use pykernel::Artifacts;

use crate::bounded::BoundedText;

/// Pushes `chunks` into a text limited to `limit` characters and renders what it gives,
/// with the artifact directory as `<dir>`, followed by the saved file when there is one.
fn check(limit: usize, chunks: &[&str]) -> String {
    let artifacts = Artifacts::create_private().expect("a private directory");
    let mut text = BoundedText::new(&artifacts, limit);
    for chunk in chunks {
        text.push(chunk);
    }
    let last_line = text.last_line().to_owned();
    let output = text.finish();
    let dir = artifacts.dir().display().to_string();
    let mut rendered = output.text.replace(&dir, "<dir>");
    rendered.push_str(&format!("--- last line: {last_line:?}\n"));
    if let Some(artifact) = &output.artifact {
        let saved = fs::read_to_string(&artifact.path).expect("the saved output");
        rendered.push_str(&format!("--- {}: {saved:?}\n", artifact.id));
    }
    rendered
}

#[test]
fn text_within_the_limit_is_kept_whole() {
    insta::assert_snapshot!(check(20, &["one\n", "two\n", "three"]), @r#"
    one
    two
    three--- last line: "three"
    "#);
}

#[test]
fn long_text_keeps_head_and_tail_and_saves_the_whole() {
    let lines: Vec<String> = (1..=12).map(|n| format!("line {n}\n")).collect();
    let chunks: Vec<&str> = lines.iter().map(String::as_str).collect();
    insta::assert_snapshot!(check(20, &chunks), @r#"
    line 1
    [... 72 characters (10 lines) left out; the whole output (87 characters) is saved as artifact out-1 in <dir>/out-1.txt; read it in Python with output("out-1") ...]
    line 12
    --- last line: "line 12"
    --- out-1: "line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\nline 10\nline 11\nline 12\n"
    "#);
}

#[test]
fn one_huge_chunk_counts_characters_not_bytes() {
    insta::assert_snapshot!(check(6, &["ééééééééé\n"]), @r#"
    ééé
    [... 4 characters (0 lines) left out; the whole output (10 characters) is saved as artifact out-1 in <dir>/out-1.txt; read it in Python with output("out-1") ...]
    éé
    --- last line: "éé"
    --- out-1: "ééééééééé\n"
    "#);
}

#[test]
fn memory_stays_bounded_over_many_chunks() {
    let artifacts = Artifacts::create_private().expect("a private directory");
    let mut text = BoundedText::new(&artifacts, 1000);
    let chunk = "x".repeat(999) + "\n";
    for _ in 0..10_000 {
        text.push(&chunk);
        assert!(text.head.len() + text.tail.len() <= 3000);
    }
    let output = text.finish();
    assert!(output.truncated);
    assert!(output.text.len() < 1300, "{}", output.text.len());
    let artifact = output.artifact.expect("saved");
    assert_eq!(
        fs::metadata(&artifact.path).expect("file").len(),
        10_000_000
    );
}

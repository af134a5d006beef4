use std::{fmt::Write as _, fs};

use serde_json::{Value, json};

use crate::artifacts::Artifacts;

/// Saves `texts` in a fresh store, answers each of `calls` with `output()` and renders
/// each answer (or error) after its arguments, with the directory as `<dir>`.
fn check(texts: &[&str], calls: &[Value]) -> String {
    let store = Artifacts::create_private().expect("a private directory");
    for text in texts {
        store.save(text).expect("saved");
    }
    let dir = store.dir().display().to_string();
    let mut rendered = String::new();
    for call in calls {
        let answer = match store.output(call) {
            Ok(Value::String(text)) => format!("{text:?}"),
            Ok(value) => value.to_string(),
            Err(err) => format!("error: {err}"),
        };
        writeln!(rendered, "{call} => {}", answer.replace(&dir, "<dir>")).unwrap();
    }
    rendered
}

#[test]
fn output_reads_whole_paged_filtered_and_as_json() {
    let text = "line 1\nline 2 match\nline 3\nline 4 match\nline 5";
    let rendered = check(
        &[text],
        &[
            json!({"id": "out-1"}),
            json!({"id": "out-1", "offset": 1, "limit": 2}),
            json!({"id": "out-1", "offset": 3}),
            json!({"id": "out-1", "limit": 0}),
            json!({"id": "out-1", "query": "match"}),
            json!({"id": "out-1", "query": "match", "offset": 1}),
            json!({"id": "out-1", "offset": 2, "limit": 1, "format": "json"}),
            json!({"id": "out-1", "offset": 5}),
            json!({"id": "out-1", "query": "nothing", "offset": 1}),
        ],
    );
    insta::assert_snapshot!(rendered, @r#"
    {"id":"out-1"} => "line 1\nline 2 match\nline 3\nline 4 match\nline 5"
    {"id":"out-1","limit":2,"offset":1} => "line 2 match\nline 3\n"
    {"id":"out-1","offset":3} => "line 4 match\nline 5"
    {"id":"out-1","limit":0} => ""
    {"id":"out-1","query":"match"} => "line 2 match\nline 4 match\n"
    {"id":"out-1","offset":1,"query":"match"} => "line 4 match\n"
    {"format":"json","id":"out-1","limit":1,"offset":2} => {"char_count":46,"content":"line 3\n","id":"out-1","line_count":5,"path":"<dir>/out-1.txt","range":{"lines":1,"offset":2}}
    {"id":"out-1","offset":5} => error: offset 5 is beyond the end of output out-1 (5 lines)
    {"id":"out-1","offset":1,"query":"nothing"} => error: offset 1 is beyond the end of output out-1 (0 lines)
    "#);
}

#[test]
fn a_query_path_reads_into_json_like_the_reference() {
    let rendered = check(
        &[r#"{"a": {"b": [10, {"k": "v"}]}, "n": null}"#, "not json\n"],
        &[
            json!({"id": "out-1", "query": "."}),
            json!({"id": "out-1", "query": ".a.b[0]"}),
            json!({"id": "out-1", "query": ".a.b[1][\"k\"]"}),
            json!({"id": "out-1", "query": ".a.b[-1].k"}),
            json!({"id": "out-1", "query": ".a.missing"}),
            json!({"id": "out-1", "query": ".a.b[7]"}),
            json!({"id": "out-1", "query": ".a", "limit": 1}),
            json!({"id": "out-1", "query": ".a[", "format": "json"}),
            json!({"id": "out-2", "query": ".a"}),
        ],
    );
    insta::assert_snapshot!(rendered, @r#"
    {"id":"out-1","query":"."} => "{\n  \"a\": {\n    \"b\": [\n      10,\n      {\n        \"k\": \"v\"\n      }\n    ]\n  },\n  \"n\": null\n}"
    {"id":"out-1","query":".a.b[0]"} => "10"
    {"id":"out-1","query":".a.b[1][\"k\"]"} => "\"v\""
    {"id":"out-1","query":".a.b[-1].k"} => "\"v\""
    {"id":"out-1","query":".a.missing"} => "null"
    {"id":"out-1","query":".a.b[7]"} => "null"
    {"id":"out-1","limit":1,"query":".a"} => error: a query path cannot be combined with offset or limit
    {"format":"json","id":"out-1","query":".a["} => error: bad query path ".a[": a [ is not closed
    {"id":"out-2","query":".a"} => error: output out-2 is not valid JSON: expected ident at line 1 column 2
    "#);
}

#[test]
fn unknown_ids_and_bad_arguments_are_clear_errors() {
    let rendered = check(
        &["a\n", "b\n"],
        &[
            json!({"id": "out-9"}),
            json!({"id": "../out-1"}),
            json!({"id": 3}),
            json!({}),
            json!(["out-1"]),
            json!({"id": "out-1", "offset": -1}),
            json!({"id": "out-1", "format": "yaml"}),
            json!({"id": "out-1", "query": 5}),
        ],
    );
    insta::assert_snapshot!(rendered, @r#"
    {"id":"out-9"} => error: no output named "out-9"; saved outputs: out-1, out-2
    {"id":"../out-1"} => error: no output named "../out-1"; saved outputs: out-1, out-2
    {"id":3} => error: output() id must be a str, not 3
    {} => error: output() needs an id
    ["out-1"] => error: output() takes its arguments as a dict
    {"id":"out-1","offset":-1} => error: output() offset must be a non-negative int, not -1
    {"format":"yaml","id":"out-1"} => error: output() format must be "text" or "json", not "yaml"
    {"id":"out-1","query":5} => error: output() query must be a str, not 5
    "#);
    let empty = Artifacts::create_private().expect("a private directory");
    insta::assert_snapshot!(
        empty.output(&json!({"id": "out-1"})).unwrap_err(),
        @r#"
        no output named "out-1": none was saved
        "#
    );
}

#[test]
fn the_private_directory_is_owner_only_and_removed_on_drop() {
    use std::os::unix::fs::PermissionsExt;

    let artifacts = Artifacts::create_private().expect("a private directory");
    let dir = artifacts.dir().to_owned();
    let mode = fs::metadata(&dir).expect("dir").permissions().mode() & 0o777;
    assert_eq!(format!("{mode:o}"), "700");
    let (artifact, _file) = artifacts.create().expect("a file");
    let mode = fs::metadata(&artifact.path)
        .expect("file")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(format!("{mode:o}"), "600");
    assert_eq!(artifacts.path("out-1"), Some(artifact.path.clone()));
    assert_eq!(artifacts.path("../out-1"), None);
    drop(artifacts);
    assert!(!dir.exists());
}

#[test]
fn a_kept_directory_continues_after_the_ids_it_holds() {
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let dir = scratch.path().join("outputs");
    let first = Artifacts::in_dir(&dir).expect("made");
    first.save("one").expect("saved");
    first.save("two").expect("saved");
    drop(first);
    let second = Artifacts::in_dir(&dir).expect("reopened");
    let artifact = second.save("three").expect("saved");
    assert_eq!(artifact.id.as_str(), "out-3");
    let ids: Vec<String> = second.ids().iter().map(ToString::to_string).collect();
    assert_eq!(ids, ["out-1", "out-2", "out-3"]);
    assert!(dir.exists(), "a given directory is kept");
}

use pykernel::{MimeBundle, Output, PyError};
use serde_json::json;

use crate::{
    images::{ImageSaver, InlineProtocol},
    output::{Images, Size, TerminalView, terminal_text, traceback_text},
};

/// Renders `bundle` as `pyk` shows it, with stdout and stderr marked.
fn check(bundle: serde_json::Value, images: &mut Images, out_prompt: Option<&str>) -> String {
    let bundle: MimeBundle = serde_json::from_value(bundle).expect("the test bundle is an object");
    let shown = terminal_text(&bundle, images, out_prompt);
    let mut transcript = String::new();
    for line in shown.stdout.lines() {
        transcript.push_str(&format!("out| {line}\n"));
    }
    for line in shown.stderr.lines() {
        transcript.push_str(&format!("err| {line}\n"));
    }
    transcript
}

fn plain() -> Images {
    Images::default()
}

#[test]
fn plain_text_and_result_prompts() {
    insta::assert_snapshot!(check(json!({"text/plain": "2"}), &mut plain(), Some("Out[1]: ")), @"out| Out[1]: 2");
    insta::assert_snapshot!(check(json!({"text/plain": "a\nb"}), &mut plain(), Some("Out[2]: ")), @r"
    out| Out[2]:
    out| a
    out| b
    ");
    insta::assert_snapshot!(check(json!({"text/plain": "x"}), &mut plain(), None), @"out| x");
    insta::assert_snapshot!(check(json!({}), &mut plain(), Some("Out[3]: ")), @"");
}

#[test]
fn markdown_and_html_win_over_plain_text() {
    insta::assert_snapshot!(check(json!({"text/markdown": "**bold**", "text/plain": "bold"}), &mut plain(), None), @"out| **bold**");
    insta::assert_snapshot!(check(json!({"text/html": "<p><strong>Hello</strong></p>"}), &mut plain(), None), @"out| **Hello**");
    // HTML wins over Python's default repr, not over a real one (a DataFrame's table).
    insta::assert_snapshot!(check(json!({"text/html": "<b>Hi</b>", "text/plain": "<__main__.Html object at 0x7f5c6fe88590>"}), &mut plain(), None), @"out| **Hi**");
    insta::assert_snapshot!(check(json!({"text/html": "<b>Hi</b>", "text/plain": "<__main__.Html at 0x7f5c6fe88590>"}), &mut plain(), None), @"out| **Hi**");
    insta::assert_snapshot!(check(json!({"text/html": "<b>Hi</b>", "text/plain": "<a tag at 0x10>"}), &mut plain(), None), @"out| <a tag at 0x10>");
    insta::assert_snapshot!(check(json!({"text/html": "<table></table>", "text/plain": "   a\n0  1"}), &mut plain(), None), @r"
    out|    a
    out| 0  1
    ");
}

#[test]
fn json_is_pretty_and_replaces_plain_text() {
    insta::assert_snapshot!(check(json!({"application/json": {"a": [1, 2]}, "text/plain": "<Obj>"}), &mut plain(), Some("Out[1]: ")), @r#"
    out| Out[1]:
    out| {
    out|   "a": [
    out|     1,
    out|     2
    out|   ]
    out| }
    "#);
}

#[test]
fn images_become_placeholders_without_a_graphics_terminal() {
    let png = "iVBORw0KGgo".repeat(1000);
    insta::assert_snapshot!(check(json!({"image/png": png, "text/plain": "<Figure size 640x480 with 1 Axes>"}), &mut plain(), None), @"out| [image/png 8.1 KiB]");
    insta::assert_snapshot!(check(json!({"image/svg+xml": "<svg/>", "text/markdown": "a *chart*"}), &mut plain(), None), @r"
    out| [image/svg+xml 6 B]
    out| a *chart*
    ");
}

#[test]
fn images_are_drawn_inline_when_the_terminal_supports_them() {
    let mut kitty = Images {
        saver: None,
        inline: Some(InlineProtocol::Kitty),
    };
    insta::assert_debug_snapshot!(check(json!({"image/png": "aGVsbG8="}), &mut kitty, None), @r#""out| \u{1b}_Ga=T,f=100,m=0;aGVsbG8=\u{1b}\\\n""#);
    // kitty draws PNG only.
    insta::assert_snapshot!(check(json!({"image/jpeg": "aGVsbG8="}), &mut kitty, None), @"out| [image/jpeg 5 B]");
}

#[test]
fn saved_images_print_their_path() {
    let dir = std::env::temp_dir().join(format!("pyk-output-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut saving = Images {
        saver: Some(ImageSaver::new(dir.clone())),
        inline: None,
    };
    let shown = check(
        json!({"image/png": "aGVsbG8=", "text/plain": "<Image>"}),
        &mut saving,
        None,
    );
    assert_eq!(
        shown,
        format!(
            "out| [image/png 5 B saved to {}]\n",
            dir.join("image-1.png").display()
        )
    );
    assert_eq!(
        std::fs::read(dir.join("image-1.png")).ok().as_deref(),
        Some(&b"hello"[..])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn status_events_go_to_stderr() {
    insta::assert_snapshot!(check(json!({"application/x-pykernel-status": {"op": "phase", "title": "Scan"}}), &mut plain(), None), @r#"err| [phase] {"title":"Scan"}"#);
}

#[test]
fn tracebacks_end_with_the_exception() {
    let error = |traceback: &[&str]| PyError {
        ename: "ZeroDivisionError".into(),
        evalue: "division by zero".into(),
        traceback: traceback.iter().map(|line| (*line).to_owned()).collect(),
    };
    insta::assert_snapshot!(traceback_text(&error(&["Cell In[1], line 1\n    1/0\n", "ZeroDivisionError: division by zero"])), @r"
    Cell In[1], line 1
        1/0
    ZeroDivisionError: division by zero
    ");
    insta::assert_snapshot!(traceback_text(&error(&[])), @"ZeroDivisionError: division by zero");
    let interrupt = PyError {
        ename: "KeyboardInterrupt".into(),
        evalue: String::new(),
        traceback: vec![],
    };
    insta::assert_snapshot!(traceback_text(&interrupt), @"KeyboardInterrupt");
}

/// Everything `pyk` writes to stdout for `outputs` on a terminal of `size` (`None`: not
/// a terminal), with the escape sequences spelled out: `⎋[2A` moves up two rows, `⎋[J`
/// erases to the end of the screen.
fn render(outputs: &[Output], size: Option<Size>) -> String {
    let mut view = TerminalView::new(Images::default(), size, false);
    let mut written = String::new();
    for output in outputs {
        let shown = view.show(output, None);
        written.push_str(&shown.stdout);
    }
    written.replace('\u{1b}', "⎋")
}

fn term(cols: usize, rows: usize) -> Option<Size> {
    Some(Size { cols, rows })
}

fn text(plain: &str) -> MimeBundle {
    MimeBundle::from_iter([("text/plain", plain)])
}

fn shown(id: &str, plain: &str) -> Output {
    Output::DisplayWithId {
        display_id: id.into(),
        bundle: text(plain),
        metadata: serde_json::Map::new(),
    }
}

fn update(id: &str, plain: &str) -> Output {
    Output::UpdateDisplay {
        display_id: id.into(),
        bundle: text(plain),
        metadata: serde_json::Map::new(),
    }
}

fn out(data: &str) -> Output {
    Output::Stdout(data.into())
}

#[test]
fn a_progress_bar_redraws_in_place_on_a_terminal() {
    let outputs = [
        out("start\n"),
        shown("bar", "[    ] 0%"),
        update("bar", "[##  ] 50%"),
        update("bar", "[####] 100%\ndone"),
        update("bar", "ok"),
    ];
    insta::assert_debug_snapshot!(render(&outputs, term(80, 24)), @r#""start\n[    ] 0%\n⎋[1A⎋[J[##  ] 50%\n⎋[1A⎋[J[####] 100%\ndone\n⎋[2A⎋[Jok\n""#);
    insta::assert_debug_snapshot!(render(&outputs, None), @r#""start\n[    ] 0%\n[##  ] 50%\n[####] 100%\ndone\nok\n""#);
}

#[test]
fn an_update_after_other_output_is_printed_anew() {
    let outputs = [
        shown("a", "first"),
        out("between"),
        update("a", "second"),
        update("a", "third"),
        update("other", "never shown before"),
    ];
    insta::assert_debug_snapshot!(render(&outputs, term(80, 24)), @r#""first\nbetween\nsecond\n⎋[1A⎋[Jthird\nnever shown before\n""#);
}

#[test]
fn wrapped_lines_count_as_the_rows_they_take() {
    let outputs = [shown("w", &"x".repeat(25)), update("w", "short")];
    insta::assert_debug_snapshot!(render(&outputs, term(10, 24)), @r#""xxxxxxxxxxxxxxxxxxxxxxxxx\n⎋[3A⎋[Jshort\n""#);
}

#[test]
fn a_display_taller_than_the_screen_is_not_redrawn() {
    let outputs = [shown("t", "1\n2\n3\n4"), update("t", "new")];
    insta::assert_debug_snapshot!(render(&outputs, term(80, 4)), @r#""1\n2\n3\n4\nnew\n""#);
}

#[test]
fn clear_output_erases_the_cells_rows_on_a_terminal_only() {
    let outputs = [
        out("one\ntwo\npartial"),
        Output::ClearOutput { wait: false },
        out("three\n"),
    ];
    insta::assert_debug_snapshot!(render(&outputs, term(80, 24)), @r#""one\ntwo\npartial\r⎋[2A⎋[Jthree\n""#);
    insta::assert_debug_snapshot!(render(&outputs, None), @r#""one\ntwo\npartialthree\n""#);
}

#[test]
fn clear_output_with_wait_happens_before_the_next_output_but_not_an_update() {
    let outputs = [
        shown("p", "0%"),
        Output::ClearOutput { wait: true },
        update("p", "50%"),
        shown("p", "100%"),
    ];
    insta::assert_debug_snapshot!(render(&outputs, term(80, 24)), @r#""0%\n⎋[1A⎋[J50%\n\r⎋[1A⎋[J100%\n""#);
}

#[test]
fn clear_output_is_ignored_once_the_rows_scrolled_away_or_a_cursor_moved() {
    let scrolled = [out("1\n2\n3\n4\n5\n"), Output::ClearOutput { wait: false }];
    insta::assert_debug_snapshot!(render(&scrolled, term(80, 4)), @r#""1\n2\n3\n4\n5\n""#);
    let moved = [out("a\n\u{1b}[2Ab\n"), Output::ClearOutput { wait: false }];
    insta::assert_debug_snapshot!(render(&moved, term(80, 24)), @r#""a\n⎋[2Ab\n""#);
    let colored = [
        out("\u{1b}[31mred\u{1b}[0m\n"),
        Output::ClearOutput { wait: false },
    ];
    insta::assert_debug_snapshot!(render(&colored, term(80, 24)), @r#""⎋[31mred⎋[0m\n\r⎋[1A⎋[J""#);
}

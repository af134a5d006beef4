//! Display rendering: which text a bundle shows and which outputs it hands out.

use std::fmt::Write as _;

use pykernel::{MimeBundle, RenderLimits, Rendered, RenderedOutput, html_to_text, render_bundle};

/// Renders a bundle given as JSON with the default limits.
fn check(bundle_json: &str) -> String {
    check_with(RenderLimits::new(), bundle_json)
}

/// Renders a bundle given as JSON: the text as `> ` lines, then one line per output.
fn check_with(limits: RenderLimits, bundle_json: &str) -> String {
    let bundle: MimeBundle = serde_json::from_str(bundle_json).expect("test bundle is json");
    describe(&render_bundle(&bundle, &limits))
}

fn describe(rendered: &Rendered) -> String {
    let mut out = String::new();
    if rendered.text.is_empty() {
        out.push_str("(no text)\n");
    }
    for line in rendered.text.split_inclusive('\n') {
        match line.strip_suffix('\n') {
            Some("") => out.push_str(">\n"),
            Some(line) => writeln!(out, "> {line}").unwrap(),
            None => writeln!(out, "> {line} [no newline]").unwrap(),
        }
    }
    for output in &rendered.outputs {
        match output {
            RenderedOutput::Image { mime, data, bytes } => {
                let shown: String = data.chars().take(24).collect();
                let more = if shown.len() < data.len() { "…" } else { "" };
                writeln!(out, "image {mime} bytes={bytes} data={shown}{more}").unwrap();
            }
            RenderedOutput::Json(value) => writeln!(out, "json {value}").unwrap(),
            RenderedOutput::JsonPreview { text, bytes } => {
                writeln!(out, "json-preview bytes={bytes}").unwrap();
                for line in text.lines() {
                    writeln!(out, "  | {line}").unwrap();
                }
            }
            RenderedOutput::Omitted { mime, bytes } => {
                writeln!(out, "omitted {mime} bytes={bytes}").unwrap();
            }
            RenderedOutput::Status(event) => writeln!(out, "status {event}").unwrap(),
            RenderedOutput::Markdown => out.push_str("markdown\n"),
            RenderedOutput::Html => out.push_str("html\n"),
            RenderedOutput::Latex => out.push_str("latex\n"),
            other => writeln!(out, "{other:?}").unwrap(),
        }
    }
    if rendered.truncated {
        out.push_str("truncated\n");
    }
    out
}

/// Renders an HTML fragment through `text/html` alone.
fn check_html(html: &str) -> String {
    let bundle = serde_json::json!({ "text/html": html }).to_string();
    check(&bundle)
}

#[test]
fn status_bundle_is_only_a_status_event() {
    let out = check(
        r#"{"application/x-pykernel-status": {"op": "glob", "count": 12, "pattern": "foo"},
            "text/plain": "ignored", "image/png": "aWdub3JlZA=="}"#,
    );
    insta::assert_snapshot!(out, @r#"
        (no text)
        status {"count":12,"op":"glob","pattern":"foo"}
    "#);
}

#[test]
fn seed_status_mime_is_accepted() {
    let out =
        check(r#"{"application/x-omp-status": {"op": "glob", "count": 12, "pattern": "foo"}}"#);
    insta::assert_snapshot!(out, @r#"
        (no text)
        status {"count":12,"op":"glob","pattern":"foo"}
    "#);
}

#[test]
fn status_without_op_shows_nothing() {
    let out = check(r#"{"application/x-pykernel-status": "log", "text/plain": "hidden"}"#);
    insta::assert_snapshot!(out, @"(no text)");
}

#[test]
fn markdown_wins_over_plain_text() {
    let out = check(r#"{"text/markdown": "**bold**", "text/plain": "bold"}"#);
    insta::assert_snapshot!(out, @r"
        > **bold**
        markdown
    ");
}

#[test]
fn png_is_an_image_and_plain_text_the_text() {
    let out = check(r#"{"image/png": "base64data", "text/plain": "<Figure>"}"#);
    insta::assert_snapshot!(out, @r"
        > <Figure>
        image image/png bytes=7 data=base64data
    ");
}

#[test]
fn json_is_an_output_and_plain_text_the_text() {
    let out = check(r#"{"application/json": {"ok": true}, "text/plain": "{ ok: true }"}"#);
    insta::assert_snapshot!(out, @r#"
        > { ok: true }
        json {"ok":true}
    "#);
}

#[test]
fn envelope_plain_text() {
    let out = check(r#"{"data": {"text/plain": "hello"}}"#);
    insta::assert_snapshot!(out, @"> hello");
}

#[test]
fn envelope_image_then_json_without_text() {
    let out = check(r#"{"data": {"image/png": "abc", "application/json": {"foo": "bar"}}}"#);
    insta::assert_snapshot!(out, @r#"
        (no text)
        image image/png bytes=2 data=abc
        json {"foo":"bar"}
    "#);
}

#[test]
fn envelope_html_becomes_markdown_like_text() {
    let out = check(r#"{"data": {"text/html": "<p><strong>Hello</strong></p>"}}"#);
    insta::assert_snapshot!(out, @r"
        > **Hello**
        html
    ");
}

#[test]
fn envelope_plain_text_and_json() {
    let out = check(
        r#"{"data": {"text/plain": "value", "application/json": {"ok": true}}, "metadata": {}}"#,
    );
    insta::assert_snapshot!(out, @r#"
        > value
        json {"ok":true}
    "#);
}

#[test]
fn empty_plain_text_does_not_hide_html() {
    let out = check(r#"{"text/plain": "", "text/html": "<b>kept</b>"}"#);
    insta::assert_snapshot!(out, @r"
        > **kept**
        html
    ");
    let out = check(r#"{"text/plain": " \n", "text/html": "<i>kept too</i>"}"#);
    insta::assert_snapshot!(out, @r"
        > *kept too*
        html
    ");
}

#[test]
fn plain_text_wins_over_html() {
    let out = check(r#"{"text/plain": "plain", "text/html": "<b>html</b>"}"#);
    insta::assert_snapshot!(out, @"> plain");
}

#[test]
fn latex_is_the_last_text_resort() {
    let out = check(r#"{"text/latex": "$\\frac{1}{2}$", "text/plain": ""}"#);
    insta::assert_snapshot!(out, @r"
        > $\frac{1}{2}$
        latex
    ");
}

#[test]
fn nothing_to_show() {
    insta::assert_snapshot!(check("{}"), @"(no text)");
    insta::assert_snapshot!(check(r#"{"text/plain": ""}"#), @"(no text)");
    insta::assert_snapshot!(check(r#"{"application/vnd.plotly.v1+json": {"data": []}}"#), @"(no text)");
}

#[test]
fn images_come_in_a_fixed_order_and_svg_is_text() {
    let out = check(
        r#"{"image/svg+xml": "<svg xmlns='http://www.w3.org/2000/svg'/>",
            "image/gif": "R0lGODlh", "image/jpeg": "/9j/4AAQ", "image/png": "iVBORw0KGgo=",
            "text/plain": "<Figure size 640x480>"}"#,
    );
    insta::assert_snapshot!(out, @r"
        > <Figure size 640x480>
        image image/png bytes=8 data=iVBORw0KGgo=
        image image/jpeg bytes=6 data=/9j/4AAQ
        image image/gif bytes=6 data=R0lGODlh
        image image/svg+xml bytes=41 data=<svg xmlns='http://www.w…
    ");
}

#[test]
fn base64_whitespace_is_removed_and_size_is_decoded() {
    let out = check(r#"{"image/png": "iVBO\nRw0K\r\nGgo=\n"}"#);
    insta::assert_snapshot!(out, @r"
        (no text)
        image image/png bytes=8 data=iVBORw0KGgo=
    ");
}

#[test]
fn json_null_counts() {
    let out = check(r#"{"application/json": null}"#);
    insta::assert_snapshot!(out, @r"
        (no text)
        json null
    ");
}

#[test]
fn multiline_arrays_are_joined() {
    let out = check(
        r#"{"text/plain": ["line one\n", "line two"], "image/svg+xml": ["<svg>", "</svg>"]}"#,
    );
    insta::assert_snapshot!(out, @r"
        > line one
        > line two
        image image/svg+xml bytes=11 data=<svg></svg>
    ");
}

#[test]
fn broken_values_are_skipped_without_panic() {
    let out = check(r#"{"text/plain": 42, "text/html": "<p>fallback</p>", "image/png": 7}"#);
    insta::assert_snapshot!(out, @r"
        > fallback
        html
    ");
    let out = check(r#"{"text/plain": ["ok", 1], "text/markdown": {"no": "string"}}"#);
    insta::assert_snapshot!(out, @"(no text)");
    let out = check(r#"{"image/jpeg": null, "image/gif": [1, 2], "data": "not an envelope"}"#);
    insta::assert_snapshot!(out, @"(no text)");
}

#[test]
fn envelope_with_mime_keys_is_a_bundle() {
    let out = check(r#"{"data": {"text/plain": "inner"}, "text/plain": "outer"}"#);
    insta::assert_snapshot!(out, @"> outer");
}

#[test]
fn html_paragraphs_breaks_and_headings() {
    let out = check_html(
        "<h1>Title</h1>\n<p>First   paragraph\nwrapped.</p><p>Second<br>line two<br/>line three</p>\
         <div>a div</div><div>another</div><hr><h3>Sub</h3>tail",
    );
    insta::assert_snapshot!(out, @r"
        > # Title
        >
        > First paragraph wrapped.
        >
        > Second
        > line two
        > line three
        >
        > a div
        > another
        >
        > ---
        >
        > ### Sub
        >
        > tail
        html
    ");
}

#[test]
fn html_inline_marks() {
    let out = check_html(
        "<p>Use <code>pip install</code>, <strong>not</strong> <em>easy_install</em>; \
         <b> spaced </b>and<i></i>empty.</p>",
    );
    insta::assert_snapshot!(out, @r"
        > Use `pip install`, **not** *easy_install*; **spaced** andempty.
        html
    ");
}

#[test]
fn html_links() {
    let out = check_html(
        "<p><a href=\"https://example.com/docs?a=1&amp;b=2\">the docs</a>, \
         <a href=\"https://example.com\">https://example.com</a>, <a href=\"#top\">top</a>, \
         <a href=\"javascript:void(0)\">js</a>, <a>bare</a></p>",
    );
    insta::assert_snapshot!(out, @r"
        > the docs (https://example.com/docs?a=1&b=2), https://example.com, top, js, bare
        html
    ");
}

#[test]
fn html_lists() {
    let out = check_html(
        "<ul>\n  <li>one</li>\n  <li>two\n    <ul><li>two a</li><li>two b</li></ul>\n  </li>\n</ul>\
         <ol start=\"3\"><li>third</li><li><b>fourth</b></li></ol><p>after</p>",
    );
    insta::assert_snapshot!(out, @r"
        > - one
        > - two
        >   - two a
        >   - two b
        >
        > 3. third
        > 4. **fourth**
        >
        > after
        html
    ");
}

#[test]
fn html_scripts_styles_and_head_are_dropped() {
    let out = check_html(
        "<html><head><title>T</title><style>p { color: red }</style></head>\
         <body><script type=\"text/javascript\">if (a < b) { document.write('<p>x</p>') }</script>\
         <p>visible</p><SCRIPT>hidden()</SCRIPT><!-- a comment <p>no</p> --><p>also visible</p>\
         <template><p>not rendered</p></template></body></html>",
    );
    insta::assert_snapshot!(out, @r"
        > visible
        >
        > also visible
        html
    ");
}

#[test]
fn html_pre_keeps_whitespace() {
    let out = check_html("<p>Code:</p><pre>\ndef f():\n    return 1 &lt; 2\n</pre><p>done</p>");
    insta::assert_snapshot!(out, @r"
        > Code:
        >
        > ```
        > def f():
        >     return 1 < 2
        > ```
        >
        > done
        html
    ");
}

#[test]
fn html_entities() {
    let out = check_html(
        "<p>&amp; &lt;tag&gt; &quot;q&quot; &#39;s&#39; &#65;&#x42;&#X43; a&nbsp;b \
         &hellip; &copy; &bogus; &amp &#xD800; &#0; &#99999999999; & alone</p>",
    );
    insta::assert_snapshot!(out, @r#"
        > & <tag> "q" 's' ABC a b … © &bogus; &amp � � &#99999999999; & alone
        html
    "#);
}

#[test]
fn html_pandas_dataframe() {
    let html = r#"<div>
<style scoped>
    .dataframe tbody tr th:only-of-type {
        vertical-align: middle;
    }

    .dataframe thead th {
        text-align: right;
    }
</style>
<table border="1" class="dataframe">
  <thead>
    <tr style="text-align: right;">
      <th></th>
      <th>name</th>
      <th>score</th>
    </tr>
  </thead>
  <tbody>
    <tr>
      <th>0</th>
      <td>alice</td>
      <td>1.5</td>
    </tr>
    <tr>
      <th>1</th>
      <td>bob &amp; co</td>
      <td>NaN</td>
    </tr>
  </tbody>
</table>
<p>2 rows × 2 columns</p>
</div>"#;
    insta::assert_snapshot!(check_html(html), @r"
        >   | name     | score
        > --+----------+------
        > 0 | alice    | 1.5
        > 1 | bob & co | NaN
        >
        > 2 rows × 2 columns
        html
    ");
}

#[test]
fn html_table_with_colspan_header_and_no_thead() {
    let html = "<table><tr><th colspan=\"2\">group</th><th>c</th></tr>\
                <tr><th>a</th><th>b</th><th></th></tr>\
                <tr><td>1</td><td>22</td><td>333</td></tr>\
                <tr><td>4</td></tr></table>";
    insta::assert_snapshot!(check_html(html), @r"
        > group |    | c
        > a     | b  |
        > ------+----+----
        > 1     | 22 | 333
        > 4     |    |
        html
    ");
}

#[test]
fn html_nested_table_and_caption() {
    let html = "<p>before</p><table><caption>Totals</caption>\
                <tr><td>outer</td><td><table><tr><td>x</td><td>y</td></tr>\
                <tr><td>z</td></tr></table></td></tr></table><p>after</p>";
    insta::assert_snapshot!(check_html(html), @r"
        > before
        >
        > Totals |
        > outer  | x, y; z
        >
        > after
        html
    ");
}

#[test]
fn html_broken_markup() {
    let out = check_html(
        "<p>a < b and c<d</p><p>unclosed <b>bold <i>both</p><div attr='x>y'>quoted &gt;</div>\
         </span></table><td>stray cell</td>after<p>cut off <a href=\"x",
    );
    insta::assert_snapshot!(out, @r"
        > a < b and c
        >
        > unclosed **bold *both***
        >
        > ***quoted >***
        > ***stray cellafter***
        >
        > ***cut off***
        html
    ");
}

#[test]
fn html_to_text_survives_every_prefix() {
    let html = "<div><style>x{}</style><table><thead><tr><th colspan=3>h</th></tr></thead>\
                <tr><td><b>1</b></td><td><table><tr><td>n</td></tr></table></td></tr></table>\
                <ul><li><a href='u'>l&amp;k</a><ol><li>é&#233;&nbsp;</li></ol></li></ul>\
                <pre>\n p\n</pre><!-- c --><br/><img alt='pic'></div>";
    let full = html_to_text(html);
    assert!(full.contains("l&k (u)"), "{full}");
    for (cut, _) in html.char_indices() {
        let text = html_to_text(&html[..cut]);
        assert!(
            !text.starts_with('\n') && !text.ends_with('\n'),
            "{cut}: {text:?}"
        );
    }
}

#[test]
fn text_is_truncated_with_a_notice() {
    let limits = RenderLimits::new().with_max_text_bytes(10);
    let out = check_with(limits, r#"{"text/plain": "0123456789abcdefghij\nmore"}"#);
    insta::assert_snapshot!(out, @r"
        > 0123456789
        > [... truncated 15 bytes ...]
        truncated
    ");
}

#[test]
fn text_at_the_limit_is_kept_whole_and_the_newline_is_free() {
    let limits = RenderLimits::new().with_max_text_bytes(6);
    let out = check_with(limits, r#"{"text/plain": "hello"}"#);
    insta::assert_snapshot!(out, @"> hello");
    let limits = RenderLimits::new().with_max_text_bytes(5);
    let out = check_with(limits, r#"{"text/plain": "hello"}"#);
    insta::assert_snapshot!(out, @"> hello");
    let limits = RenderLimits::new().with_max_text_bytes(4);
    let out = check_with(limits, r#"{"text/plain": "hello"}"#);
    insta::assert_snapshot!(out, @r"
        > hell
        > [... truncated 1 byte ...]
        truncated
    ");
}

#[test]
fn truncation_cuts_on_a_char_boundary() {
    // "é" is two bytes: a 3-byte limit keeps one "é", never half of the second.
    let limits = RenderLimits::new().with_max_text_bytes(3);
    let out = check_with(limits, r#"{"text/markdown": "ééé"}"#);
    insta::assert_snapshot!(out, @r"
        > é
        > [... truncated 4 bytes ...]
        markdown
        truncated
    ");
}

#[test]
fn truncated_text_is_a_prefix_at_every_limit() {
    let text = "línea uno\nline two ✓\n\nend";
    let bundle: MimeBundle = [("text/plain", text)].into_iter().collect();
    for max in 0..text.len() + 4 {
        let limits = RenderLimits::new().with_max_text_bytes(max);
        let rendered = render_bundle(&bundle, &limits);
        if max >= text.len() {
            assert!(!rendered.truncated);
            assert_eq!(rendered.text, format!("{text}\n"));
            continue;
        }
        assert!(rendered.truncated, "{max}");
        let (kept, notice) = rendered
            .text
            .rsplit_once("[... truncated ")
            .expect("a truncated text has a notice");
        let dropped: usize = notice.split(' ').next().unwrap().parse().unwrap();
        let cut = text.len() - dropped;
        assert!(cut <= max && max - cut < 4, "{max}: kept {cut} bytes");
        let prefix = &text[..cut];
        let expected = if prefix.is_empty() || prefix.ends_with('\n') {
            prefix.to_owned()
        } else {
            format!("{prefix}\n")
        };
        assert_eq!(kept, expected, "{max}");
    }
}

#[test]
fn huge_json_becomes_a_preview() {
    let limits = RenderLimits::new().with_max_json_bytes(40);
    let out = check_with(
        limits,
        r#"{"application/json": {"rows": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}, "text/plain": "rows"}"#,
    );
    insta::assert_snapshot!(out, @r#"
        > rows
        json-preview bytes=89
          | {
          |   "rows": [
          |     1,
          |     2,
          |     3,
          |     4
          | [... truncated 49 bytes ...]
        truncated
    "#);
}

#[test]
fn oversized_image_and_status_are_omitted() {
    let limits = RenderLimits::new()
        .with_max_image_bytes(4)
        .with_max_json_bytes(10);
    let out = check_with(
        limits,
        r#"{"image/png": "iVBORw0KGgo=", "image/jpeg": "/9j/", "text/plain": "fig"}"#,
    );
    insta::assert_snapshot!(out, @r"
        > fig
        > [image/png omitted: 8 bytes, over the 4-byte limit]
        omitted image/png bytes=8
        image image/jpeg bytes=3 data=/9j/
        truncated
    ");
    let out = check_with(
        limits,
        r#"{"application/x-pykernel-status": {"op": "log", "message": "a long message"}}"#,
    );
    insta::assert_snapshot!(out, @r"
        (no text)
        omitted application/x-pykernel-status bytes=48
        truncated
    ");
}

#[test]
fn html_text_is_bounded_too() {
    let html = "<p>".to_owned() + &"word ".repeat(100) + "</p>";
    let limits = RenderLimits::new().with_max_text_bytes(12);
    let bundle = serde_json::json!({ "text/html": html }).to_string();
    insta::assert_snapshot!(check_with(limits, &bundle), @r"
        > word word wo
        > [... truncated 487 bytes ...]
        html
        truncated
    ");
}

#[test]
fn deep_nesting_stays_bounded() {
    let depth = 20_000;
    let html = "<b><ul><li>".repeat(depth) + "deep" + &"</li></ul></b>".repeat(depth);
    let text = html_to_text(&html);
    let tail = &text[text.len().saturating_sub(200)..];
    assert!(text.trim_end_matches('*').ends_with("deep"), "{tail}");
    assert!(text.len() < 10_000, "{}", text.len());
}

use pykernel::MimeBundle;
use serde_json::{Map, Value, json};

use crate::{
    apply::{Applier, CellEvent, StreamName},
    nbformat::Cell,
};

/// Runs cells of events through one applier and renders every cell's outputs, one line
/// each.
fn check(cells_events: Vec<Vec<CellEvent>>) -> String {
    let mut cells: Vec<Cell> = (0..cells_events.len())
        .map(|_| Cell::code("pass", &[], None))
        .collect();
    let mut applier = Applier::new();
    for (index, events) in cells_events.into_iter().enumerate() {
        applier.start_cell(&mut cells, index);
        for event in events {
            applier.apply(&mut cells, index, event);
        }
        applier.finish_cell(&mut cells, index, Some(index as u64 + 1));
    }
    let mut rendered = String::new();
    for (index, cell) in cells.iter().enumerate() {
        rendered.push_str(&format!(
            "cell {index} [{}]\n",
            cell.execution_count.clone().unwrap_or(Value::Null)
        ));
        for output in cell.outputs.iter().flatten() {
            rendered.push_str(&format!("  {output}\n"));
        }
    }
    rendered
}

fn out(text: &str) -> CellEvent {
    CellEvent::Stream {
        name: StreamName::Stdout,
        text: text.to_owned(),
    }
}

fn err(text: &str) -> CellEvent {
    CellEvent::Stream {
        name: StreamName::Stderr,
        text: text.to_owned(),
    }
}

fn plain(text: &str) -> MimeBundle {
    [("text/plain", text)].into_iter().collect()
}

fn display(text: &str, display_id: Option<&str>) -> CellEvent {
    CellEvent::Display {
        bundle: plain(text),
        metadata: Map::new(),
        display_id: display_id.map(str::to_owned),
    }
}

fn update(text: &str, display_id: &str) -> CellEvent {
    CellEvent::UpdateDisplay {
        bundle: plain(text),
        metadata: Map::new(),
        display_id: display_id.to_owned(),
    }
}

fn clear(wait: bool) -> CellEvent {
    CellEvent::ClearOutput { wait }
}

#[test]
fn consecutive_stream_writes_merge_and_others_keep_their_order() {
    let rendered = check(vec![vec![
        out("a\n"),
        out("b\n"),
        err("warn\n"),
        out("c"),
        display("'d'", None),
        out("e\n"),
        CellEvent::Result {
            bundle: plain("42"),
            metadata: Map::new(),
        },
    ]]);
    insta::assert_snapshot!(rendered, @r#"
    cell 0 [1]
      {"name":"stdout","output_type":"stream","text":"a\nb\n"}
      {"name":"stderr","output_type":"stream","text":"warn\n"}
      {"name":"stdout","output_type":"stream","text":"c"}
      {"data":{"text/plain":"'d'"},"metadata":{},"output_type":"display_data"}
      {"name":"stdout","output_type":"stream","text":"e\n"}
      {"data":{"text/plain":"42"},"execution_count":1,"metadata":{},"output_type":"execute_result"}
    "#);
}

#[test]
fn errors_keep_name_value_and_traceback() {
    let rendered = check(vec![vec![
        out("before\n"),
        CellEvent::Error {
            ename: "ValueError".to_owned(),
            evalue: "bad".to_owned(),
            traceback: vec![
                "Traceback (most recent call last):".to_owned(),
                "ValueError: bad".to_owned(),
            ],
        },
    ]]);
    insta::assert_snapshot!(rendered, @r#"
    cell 0 [1]
      {"name":"stdout","output_type":"stream","text":"before\n"}
      {"ename":"ValueError","evalue":"bad","output_type":"error","traceback":["Traceback (most recent call last):","ValueError: bad"]}
    "#);
}

/// The cells of nbclient's `Clear Output.ipynb`, with the outputs ipykernel gives.
#[test]
fn clear_output_as_nbclient_applies_it() {
    let rendered = check(vec![
        // for i in range(3): clear_output(); print(i)
        vec![
            clear(false),
            out("0\n"),
            clear(false),
            out("1\n"),
            clear(false),
            out("2\n"),
        ],
        // print("Hello world"); clear_output()
        vec![out("Hello world\n"), clear(false)],
        // print("Hello world", end=""); clear_output(wait=True)  (nothing after it)
        vec![out("Hello world"), clear(true)],
        // print("Hello", end=""); clear_output(wait=True); print("world", end="")
        vec![out("Hello"), clear(true), out("world")],
        // display("Hello world", display_id="id2"); clear_output()
        vec![display("'Hello world'", Some("id2")), clear(false)],
        // display("Hello", display_id="id4"); clear_output(wait=True); print("world", end="")
        vec![display("'Hello'", Some("id4")), clear(true), out("world")],
        // handle4.update("Hello world"): the output is gone, so nothing changes.
        vec![update("'Hello world'", "id4")],
    ]);
    insta::assert_snapshot!(rendered, @r#"
    cell 0 [1]
      {"name":"stdout","output_type":"stream","text":"2\n"}
    cell 1 [2]
    cell 2 [3]
      {"name":"stdout","output_type":"stream","text":"Hello world"}
    cell 3 [4]
      {"name":"stdout","output_type":"stream","text":"world"}
    cell 4 [5]
    cell 5 [6]
      {"name":"stdout","output_type":"stream","text":"world"}
    cell 6 [7]
    "#);
}

#[test]
fn updates_rewrite_every_output_with_the_id_across_cells() {
    let rendered = check(vec![
        vec![
            display("'above'", None),
            display("1", Some("here")),
            display("'below'", None),
        ],
        vec![display("2", Some("here")), display("x", Some("other"))],
        vec![update("3", "here"), update("y", "missing")],
        // A display with a known id updates the earlier ones too.
        vec![display("4", Some("here"))],
    ]);
    insta::assert_snapshot!(rendered, @r#"
    cell 0 [1]
      {"data":{"text/plain":"'above'"},"metadata":{},"output_type":"display_data"}
      {"data":{"text/plain":"4"},"metadata":{},"output_type":"display_data"}
      {"data":{"text/plain":"'below'"},"metadata":{},"output_type":"display_data"}
    cell 1 [2]
      {"data":{"text/plain":"4"},"metadata":{},"output_type":"display_data"}
      {"data":{"text/plain":"x"},"metadata":{},"output_type":"display_data"}
    cell 2 [3]
    cell 3 [4]
      {"data":{"text/plain":"4"},"metadata":{},"output_type":"display_data"}
    "#);
}

#[test]
fn a_rerun_cell_forgets_its_old_display_ids() {
    let mut cells = vec![Cell::code("pass", &[], None)];
    let mut applier = Applier::new();
    applier.start_cell(&mut cells, 0);
    applier.apply(&mut cells, 0, out("noise\n"));
    applier.apply(&mut cells, 0, display("old", Some("d")));
    applier.start_cell(&mut cells, 0);
    applier.apply(&mut cells, 0, out("fresh\n"));
    applier.apply(&mut cells, 0, update("new", "d"));
    let outputs: Vec<String> = cells[0]
        .outputs
        .iter()
        .flatten()
        .map(Value::to_string)
        .collect();
    insta::assert_snapshot!(outputs.join("\n"), @r#"{"name":"stdout","output_type":"stream","text":"fresh\n"}"#);
}

/// Metadata goes with data, and an update replaces both, as nbclient's
/// `_update_display_id` does.
#[test]
fn metadata_goes_with_its_output_and_updates_replace_it() {
    let width = |width: u64| {
        json!({"image/png": {"width": width}})
            .as_object()
            .cloned()
            .unwrap_or_default()
    };
    let image = |text: &str, metadata, display_id: Option<&str>| CellEvent::Display {
        bundle: plain(text),
        metadata,
        display_id: display_id.map(str::to_owned),
    };
    let rendered = check(vec![
        vec![
            image("a", width(50), Some("img")),
            image("b", width(10), Some("other")),
            CellEvent::Result {
                bundle: plain("r"),
                metadata: width(30),
            },
        ],
        vec![
            CellEvent::UpdateDisplay {
                bundle: plain("a2"),
                metadata: width(80),
                display_id: "img".to_owned(),
            },
            update("b2", "other"),
        ],
    ]);
    insta::assert_snapshot!(rendered, @r#"
        cell 0 [1]
          {"data":{"text/plain":"a2"},"metadata":{"image/png":{"width":80}},"output_type":"display_data"}
          {"data":{"text/plain":"b2"},"metadata":{},"output_type":"display_data"}
          {"data":{"text/plain":"r"},"execution_count":1,"metadata":{"image/png":{"width":30}},"output_type":"execute_result"}
        cell 1 [2]
        "#);
}

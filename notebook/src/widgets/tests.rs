use pykernel::{CommKind, CommMessage};
use serde_json::{Map, Value, json};

use crate::{
    apply::{CellEvent, StreamName},
    widgets::Widgets,
};

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn open(comm_id: &str, state: Value) -> CommMessage {
    CommMessage {
        kind: CommKind::Open {
            target_name: "jupyter.widget".to_owned(),
        },
        comm_id: comm_id.to_owned(),
        data: object(json!({"state": state, "buffer_paths": []})),
        metadata: object(json!({"version": "2.1.0"})),
        buffers: Vec::new(),
    }
}

fn update(comm_id: &str, state: Value) -> CommMessage {
    CommMessage {
        kind: CommKind::Msg,
        comm_id: comm_id.to_owned(),
        data: object(json!({"method": "update", "state": state, "buffer_paths": []})),
        metadata: Map::new(),
        buffers: Vec::new(),
    }
}

fn output_model() -> Value {
    json!({
        "_model_module": "@jupyter-widgets/output",
        "_model_module_version": "1.0.0",
        "_model_name": "OutputModel",
        "msg_id": "",
        "outputs": [],
    })
}

fn out(text: &str) -> CellEvent {
    CellEvent::Stream {
        name: StreamName::Stdout,
        text: text.to_owned(),
    }
}

/// Feeds `steps` (comm messages, or events of execution `exec` that the cell keeps when
/// no widget takes them) and renders what the cell kept, what went back to the kernel,
/// and the notebook's widget metadata.
fn check(steps: Vec<Result<CommMessage, (&str, CellEvent)>>) -> String {
    let mut widgets = Widgets::new();
    let mut rendered = String::new();
    for step in steps {
        match step {
            Ok(message) => widgets.handle(&message),
            Err((exec, event)) => match widgets.capture(exec, event) {
                Ok(Some(sync)) => rendered.push_str(&format!(
                    "to kernel {} {}\n",
                    sync.comm_id,
                    Value::Object(sync.data)
                )),
                Ok(None) => rendered.push_str("taken\n"),
                Err(event) => rendered.push_str(&format!("cell keeps {event:?}\n")),
            },
        }
    }
    let metadata = widgets.metadata().unwrap_or(Value::Null);
    rendered.push_str(&serde_json::to_string_pretty(&metadata).unwrap_or_default());
    rendered
}

#[test]
fn output_widget_takes_the_output_of_the_execution_it_names() {
    insta::assert_snapshot!(check(vec![
        Ok(open("o", output_model())),
        Err(("r1", out("before\n"))),
        Ok(update("o", json!({"msg_id": "r1"}))),
        Err(("r1", out("in"))),
        Err(("r2", out("other cell\n"))),
        Err(("r1", out("side\n"))),
        Err(("r1", CellEvent::ClearOutput { wait: true })),
        Err(("r1", out("last\n"))),
        Ok(update("o", json!({"msg_id": ""}))),
        Err(("r1", out("after\n"))),
    ]), @r#"
    cell keeps Stream { name: Stdout, text: "before\n" }
    to kernel o {"buffer_paths":[],"method":"update","state":{"outputs":[{"name":"stdout","output_type":"stream","text":"in"}]}}
    cell keeps Stream { name: Stdout, text: "other cell\n" }
    to kernel o {"buffer_paths":[],"method":"update","state":{"outputs":[{"name":"stdout","output_type":"stream","text":"inside\n"}]}}
    taken
    to kernel o {"buffer_paths":[],"method":"update","state":{"outputs":[{"name":"stdout","output_type":"stream","text":"last\n"}]}}
    cell keeps Stream { name: Stdout, text: "after\n" }
    {
      "application/vnd.jupyter.widget-state+json": {
        "state": {
          "o": {
            "model_module": "@jupyter-widgets/output",
            "model_module_version": "1.0.0",
            "model_name": "OutputModel",
            "state": {
              "_model_module": "@jupyter-widgets/output",
              "_model_module_version": "1.0.0",
              "_model_name": "OutputModel",
              "msg_id": "",
              "outputs": [
                {
                  "name": "stdout",
                  "output_type": "stream",
                  "text": "last\n"
                }
              ]
            }
          }
        },
        "version_major": 2,
        "version_minor": 0
      }
    }
    "#);
}

#[test]
fn nested_output_widgets_stack_and_updates_stay_with_the_cell() {
    let update_display = CellEvent::UpdateDisplay {
        bundle: pykernel::MimeBundle::from_iter([("text/plain", "2")]),
        metadata: Map::new(),
        display_id: "d".to_owned(),
    };
    insta::assert_snapshot!(check(vec![
        Ok(open("a", output_model())),
        Ok(open("b", output_model())),
        Ok(update("a", json!({"msg_id": "r1"}))),
        Ok(update("b", json!({"msg_id": "r1"}))),
        Err(("r1", out("to b\n"))),
        Err(("r1", update_display)),
        Ok(update("b", json!({"msg_id": ""}))),
        Err(("r1", CellEvent::ClearOutput { wait: false })),
    ]), @r#"
    to kernel b {"buffer_paths":[],"method":"update","state":{"outputs":[{"name":"stdout","output_type":"stream","text":"to b\n"}]}}
    cell keeps UpdateDisplay { bundle: MimeBundle({"text/plain": String("2")}), metadata: {}, display_id: "d" }
    to kernel a {"buffer_paths":[],"method":"update","state":{"outputs":[]}}
    {
      "application/vnd.jupyter.widget-state+json": {
        "state": {
          "a": {
            "model_module": "@jupyter-widgets/output",
            "model_module_version": "1.0.0",
            "model_name": "OutputModel",
            "state": {
              "_model_module": "@jupyter-widgets/output",
              "_model_module_version": "1.0.0",
              "_model_name": "OutputModel",
              "msg_id": "r1",
              "outputs": []
            }
          },
          "b": {
            "model_module": "@jupyter-widgets/output",
            "model_module_version": "1.0.0",
            "model_name": "OutputModel",
            "state": {
              "_model_module": "@jupyter-widgets/output",
              "_model_module_version": "1.0.0",
              "_model_name": "OutputModel",
              "msg_id": "",
              "outputs": [
                {
                  "name": "stdout",
                  "output_type": "stream",
                  "text": "to b\n"
                }
              ]
            }
          }
        },
        "version_major": 2,
        "version_minor": 0
      }
    }
    "#);
}

#[test]
fn state_merges_buffers_are_kept_by_path_and_models_without_a_name_are_left_out() {
    let mut with_buffers = update("s", json!({"value": 5, "data": null}));
    with_buffers
        .data
        .insert("buffer_paths".to_owned(), json!([["data"]]));
    with_buffers.buffers = vec!["AAE=".to_owned()];
    let mut again = with_buffers.clone();
    again.buffers = vec!["AgM=".to_owned()];
    insta::assert_snapshot!(check(vec![
        Ok(open("s", json!({"_model_name": "IntSliderModel", "_model_module": "@jupyter-widgets/controls", "_model_module_version": "2.0.0", "value": 3}))),
        Ok(with_buffers),
        Ok(again),
        Ok(open("x", json!({"value": 1}))),
        Ok(CommMessage {
            kind: CommKind::Close,
            comm_id: "s".to_owned(),
            data: Map::new(),
            metadata: Map::new(),
            buffers: Vec::new(),
        }),
    ]), @r#"
    {
      "application/vnd.jupyter.widget-state+json": {
        "state": {
          "s": {
            "buffers": [
              {
                "data": "AgM=",
                "encoding": "base64",
                "path": [
                  "data"
                ]
              }
            ],
            "model_module": "@jupyter-widgets/controls",
            "model_module_version": "2.0.0",
            "model_name": "IntSliderModel",
            "state": {
              "_model_module": "@jupyter-widgets/controls",
              "_model_module_version": "2.0.0",
              "_model_name": "IntSliderModel",
              "data": null,
              "value": 5
            }
          }
        },
        "version_major": 2,
        "version_minor": 0
      }
    }
    "#);
}

#[test]
fn no_widgets_no_metadata() {
    assert_eq!(Widgets::new().metadata(), None);
}

use crate::{
    nbformat::Notebook,
    params::{Parameter, inject, parse_assignment},
};

/// Injects `alpha = 0.5` into a notebook of code cells `(source, tags)` and lists the
/// cells as `id [tags] source`.
fn check(minor: u64, cells: &[(&str, &[&str])]) -> String {
    let cells: Vec<serde_json::Value> = cells
        .iter()
        .map(|(source, tags)| {
            serde_json::json!({"cell_type": "code", "metadata": {"tags": tags}, "source": source,
                "outputs": [], "execution_count": null})
        })
        .collect();
    let text =
        serde_json::json!({"nbformat": 4, "nbformat_minor": minor, "metadata": {}, "cells": cells});
    let mut notebook = Notebook::parse(&text.to_string()).expect("a valid notebook");
    let parameters = [Parameter {
        name: "alpha".to_owned(),
        value_source: "0.5".to_owned(),
    }];
    let at = inject(&mut notebook, &parameters);
    let mut rendered = format!("injected at {at:?}\n");
    for cell in &notebook.cells {
        let tags: Vec<&str> = cell.tags().collect();
        rendered.push_str(&format!(
            "{:?} {tags:?} {:?}\n",
            cell.id,
            cell.source_text().unwrap_or_default()
        ));
    }
    rendered
}

#[test]
fn after_the_parameters_cell_or_first_replacing_an_earlier_injection() {
    insta::assert_snapshot!(check(5, &[("import os", &[]), ("alpha = 1", &["parameters"]), ("alpha", &[])]), @r##"
    injected at Some(2)
    None [] "import os"
    None ["parameters"] "alpha = 1"
    Some("injected-parameters") ["injected-parameters"] "# Parameters\nalpha = 0.5\n"
    None [] "alpha"
    "##);
    // No cell tagged `parameters`: first. Before nbformat 4.5 cells have no ids.
    insta::assert_snapshot!(check(4, &[("alpha", &[])]), @r##"
    injected at Some(0)
    None ["injected-parameters"] "# Parameters\nalpha = 0.5\n"
    None [] "alpha"
    "##);
    // A rerun replaces what the last run injected.
    insta::assert_snapshot!(check(4, &[("alpha = 1", &["parameters"]), ("alpha = 9", &["injected-parameters"]), ("alpha", &[])]), @r##"
    injected at Some(1)
    None ["parameters"] "alpha = 1"
    None ["injected-parameters"] "# Parameters\nalpha = 0.5\n"
    None [] "alpha"
    "##);
}

#[test]
fn assignments_need_an_identifier_and_an_equals_sign() {
    let results: Vec<String> = [
        "alpha=0.5",
        " name = x=y",
        "x",
        "=1",
        "1a=2",
        "a-b=3",
        "ünï=1",
    ]
    .iter()
    .map(|raw| match parse_assignment(raw) {
        Ok((name, value)) => format!("{raw:?}: {name:?} = {value:?}"),
        Err(err) => format!("{raw:?}: {err}"),
    })
    .collect();
    insta::assert_snapshot!(results.join("\n"), @r#"
    "alpha=0.5": "alpha" = "0.5"
    " name = x=y": "name" = " x=y"
    "x": bad parameter: expected NAME=VALUE, found `x` (no `=`)
    "=1": bad parameter: `` is not a Python identifier
    "1a=2": bad parameter: `1a` is not a Python identifier
    "a-b=3": bad parameter: `a-b` is not a Python identifier
    "ünï=1": "ünï" = "1"
    "#);
}

use crate::nbformat::Notebook;

/// Parses `text` and writes it back as Jupyter writes notebooks.
fn check(text: &str) -> String {
    match Notebook::parse(text) {
        Ok(notebook) => notebook.to_json(),
        Err(message) => format!("error: {message}"),
    }
}

#[test]
fn writes_as_jupyter_does_and_keeps_what_it_does_not_know() {
    let written = check(
        r##"{"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3"}},
        "cells": [
          {"cell_type": "code", "id": "a", "metadata": {}, "execution_count": null, "outputs": [],
           "source": "x = 1\ny = 2"},
          {"cell_type": "markdown", "id": "b", "metadata": {}, "source": ["# Title\n", "text"],
           "attachments": {"x.png": {"image/png": "AAAA"}}},
          {"cell_type": "code", "id": "c", "metadata": {"tags": ["t"]}, "execution_count": 3,
           "outputs": [{"output_type": "stream", "name": "stdout", "text": "one\ntwo\n"},
                       {"output_type": "display_data", "metadata": {},
                        "data": {"text/plain": "a\nb", "application/json": {"k": "v\nw"}}}],
           "source": ""}
        ]}"##,
    );
    insta::assert_snapshot!(written, @r##"
    {
     "cells": [
      {
       "cell_type": "code",
       "execution_count": null,
       "id": "a",
       "metadata": {},
       "outputs": [],
       "source": [
        "x = 1\n",
        "y = 2"
       ]
      },
      {
       "attachments": {
        "x.png": {
         "image/png": "AAAA"
        }
       },
       "cell_type": "markdown",
       "id": "b",
       "metadata": {},
       "source": [
        "# Title\n",
        "text"
       ]
      },
      {
       "cell_type": "code",
       "execution_count": 3,
       "id": "c",
       "metadata": {
        "tags": [
         "t"
        ]
       },
       "outputs": [
        {
         "name": "stdout",
         "output_type": "stream",
         "text": [
          "one\n",
          "two\n"
         ]
        },
        {
         "data": {
          "application/json": {
           "k": "v\nw"
          },
          "text/plain": [
           "a\n",
           "b"
          ]
         },
         "metadata": {},
         "output_type": "display_data"
        }
       ],
       "source": []
      }
     ],
     "metadata": {
      "kernelspec": {
       "name": "python3"
      }
     },
     "nbformat": 4,
     "nbformat_minor": 5
    }
    "##);
}

#[test]
fn what_is_not_an_nbformat_4_notebook_is_refused_with_a_reason() {
    let errors = [
        "{",
        "[]",
        r#"{"cells": []}"#,
        r#"{"nbformat": 3, "worksheets": []}"#,
        r#"{"nbformat": 4, "nbformat_minor": 0}"#,
        r#"{"nbformat": 4, "nbformat_minor": 0, "cells": [{"cell_type": "code", "source": 1}]}"#,
    ]
    .map(check)
    .join("\n");
    insta::assert_snapshot!(errors, @r"
    error: not JSON: EOF while parsing an object at line 1 column 1
    error: no `nbformat` version: not a Jupyter notebook
    error: no `nbformat` version: not a Jupyter notebook
    error: nbformat 3 is not supported, only 4 (convert it with `jupyter nbconvert --to notebook --nbformat 4`)
    error: not a valid notebook: missing field `cells`
    error: cell 1 has a source that is neither a string nor a list of strings
    ");
}

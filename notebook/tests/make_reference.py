"""Writes NAME.nbclient.ipynb beside each NAME.ipynb given: the notebook executed by
nbclient + ipykernel, the reference the notebook crate's tests compare
`pykernel_notebook::run` with.

Run it with an interpreter that has nbclient and ipykernel installed (and ipywidgets for
the widgets notebook), from this folder:

    python make_reference.py widgets/widgets.ipynb display_metadata/display_metadata.ipynb
"""

import sys
from pathlib import Path

import nbclient
import nbformat

for name in sys.argv[1:]:
    path = Path(name).resolve()
    notebook = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(notebook, kernel_name="python3", record_timing=False).execute()
    nbformat.validate(notebook)
    nbformat.write(notebook, path.with_suffix(".nbclient.ipynb"))

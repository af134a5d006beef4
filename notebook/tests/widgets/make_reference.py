"""Writes widgets.nbclient.ipynb: widgets.ipynb executed by nbclient + ipykernel, the
reference the notebook crate's widgets test compares `pykernel_notebook::run` with.

Run it with an interpreter that has nbclient, ipykernel and ipywidgets installed:

    python make_reference.py
"""

from pathlib import Path

import nbclient
import nbformat

HERE = Path(__file__).resolve().parent

notebook = nbformat.read(HERE / "widgets.ipynb", as_version=4)
nbclient.NotebookClient(notebook, kernel_name="python3", record_timing=False).execute()
nbformat.validate(notebook)
nbformat.write(notebook, HERE / "widgets.nbclient.ipynb")

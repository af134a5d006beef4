"""Conformance of `pyk notebook run` against nbclient + ipykernel.

Runs every notebook of the corpus (notebook/corpus/corpus.json) through `pyk notebook run`
with each engine, checks each written notebook with nbformat's validator, normalises the
outputs as nbclient's own tests do (metadata dropped, ANSI stripped, hex addresses and
uuids masked, consecutive streams merged, errors by name, message and last traceback
line, images by MIME type) and compares them cell by cell with the reference outputs that
nbclient + ipykernel give (notebook/corpus/reference.json). It prints the match rate per
notebook and per cause.

`--reference` first reruns nbclient + ipykernel on the same interpreter and rewrites the
reference file. Run through `cargo xtask notebooks`, which builds pyk and the venv.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,16}")
UUID_HEX = re.compile(r"\b[0-9a-f]{32}\b|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
SITE_PACKAGES = re.compile(r"\S*/site-packages/")
CARRIAGE_RETURN = re.compile(r".*\r(?=[^\n])")
BACKSPACE = re.compile("[^\n]\x08")


def mask(text: str) -> str:
    text = ANSI.sub("", text)
    text = HEX_ADDRESS.sub("<HEXADDR>", text)
    text = SITE_PACKAGES.sub("<SITE-PACKAGES>/", text)
    return UUID_HEX.sub("<UUID>", text)


def joined(value):
    return "".join(value) if isinstance(value, list) else value


def normalise_data(data: dict) -> dict:
    out = {}
    for mime, value in sorted(data.items()):
        if mime.startswith("image/"):
            out[mime] = f"<{mime}>"
        elif mime == "application/json" or mime.endswith("+json"):
            out[mime] = value
        else:
            out[mime] = mask(joined(value))
    return out


def normalise_outputs(outputs: list) -> list:
    """One cell's outputs in comparable form."""
    normal = []
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            text = joined(output.get("text", ""))
            if normal and normal[-1].get("stream") == output.get("name"):
                normal[-1]["text"] += text
            else:
                normal.append({"stream": output.get("name"), "text": text})
        elif kind in ("execute_result", "display_data"):
            normal.append({kind: normalise_data(output.get("data", {}))})
        elif kind == "error":
            traceback = [ANSI.sub("", line) for line in output.get("traceback", [])]
            lines = "\n".join(traceback).rstrip("\n").split("\n")
            normal.append(
                {
                    "error": output.get("ename"),
                    "evalue": mask(output.get("evalue", "")),
                    "last": mask(lines[-1].rstrip()) if lines else "",
                }
            )
        else:
            normal.append({"other": kind})
    for item in normal:
        if "stream" in item:
            text = item["text"]
            previous = None
            while previous != text:
                previous = text
                text = BACKSPACE.sub("", text)
            item["text"] = mask(CARRIAGE_RETURN.sub("", text))
    return normal


def normalise_notebook(nb: dict) -> list:
    """[cell index, normalised outputs] for every code cell."""
    return [
        [index, normalise_outputs(cell.get("outputs", []))]
        for index, cell in enumerate(nb["cells"])
        if cell.get("cell_type") == "code"
    ]


def cause(expected: list, actual: list) -> str:
    """The first difference between two normalised output lists, as a cause label."""
    for want, got in zip(expected, actual):
        if want == got:
            continue
        want_kind, got_kind = next(iter(want)), next(iter(got))
        if want_kind != got_kind:
            return f"{got_kind} where ipykernel gives {want_kind}"
        if want_kind == "stream":
            if want["stream"] != got["stream"]:
                return "stream name"
            return "stream text"
        if want_kind == "error":
            for key, label in (("error", "name"), ("evalue", "message"), ("last", "last line")):
                if want[key] != got[key]:
                    return f"error {label}"
        if want_kind in ("execute_result", "display_data"):
            want_data, got_data = want[want_kind], got[got_kind]
            if set(want_data) != set(got_data):
                return f"{want_kind} MIME types"
            for mime in want_data:
                if want_data[mime] != got_data[mime]:
                    return f"{want_kind} {mime}"
        return f"{want_kind} differs"
    if len(expected) > len(actual):
        return f"missing {next(iter(expected[len(actual)]))}"
    return f"extra {next(iter(actual[len(expected)]))}"


def python_literal(raw: str) -> str:
    """As `pyk notebook run -p` does: a Python literal stays one, else a string."""
    try:
        return repr(ast.literal_eval(raw))
    except Exception:
        return repr(raw)


def inject_parameters(nb, parameters: list[str]) -> None:
    """papermill's injection, for the reference run."""
    import nbformat

    if not parameters:
        return
    lines = ["# Parameters"]
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        lines.append(f"{name.strip()} = {python_literal(value)}")
    cell = nbformat.v4.new_code_cell("\n".join(lines) + "\n")
    cell.metadata["tags"] = ["injected-parameters"]
    if nb.nbformat_minor < 5:
        cell.pop("id", None)
    else:
        cell.id = "injected-parameters"
    at = next(
        (i + 1 for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])),
        0,
    )
    nb.cells.insert(at, cell)


def run_reference(corpus_dir: Path, entries: list, reference_path: Path) -> None:
    import IPython
    import ipykernel
    import nbclient
    import nbformat

    notebooks = {}
    for entry in entries:
        path = corpus_dir / entry["path"]
        nb = nbformat.read(path, as_version=4)
        inject_parameters(nb, entry.get("parameters", []))
        client = nbclient.NotebookClient(
            nb,
            timeout=120,
            allow_errors=True,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        )
        client.execute()
        notebooks[entry["path"]] = normalise_notebook(nb)
        print(f"reference: {entry['path']}", file=sys.stderr)
    reference = {
        "about": "Normalised outputs of the corpus run by nbclient + ipykernel; regenerate with `cargo xtask notebooks --reference`.",
        "python": sys.version.split()[0],
        "versions": {
            "nbclient": nbclient.__version__,
            "ipykernel": ipykernel.__version__,
            "ipython": IPython.__version__,
        },
        "notebooks": notebooks,
    }
    reference_path.write_text(json.dumps(reference, indent=1, ensure_ascii=False, sort_keys=True) + "\n")


def run_pyk(pyk: str, python: str, engine: str, source: Path, out: Path, parameters: list[str]):
    """Runs one notebook; returns (exit code, stderr)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [pyk, "notebook", "run", str(source), "-o", str(out), "--allow-errors"]
    command += ["--engine", engine, "--python", python, "--timeout", "120"]
    for parameter in parameters:
        command += ["-p", parameter]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    return done.returncode, done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyk", required=True, help="the pyk binary")
    parser.add_argument("--python", default=sys.executable, help="the kernels' interpreter")
    parser.add_argument("--corpus", required=True, type=Path, help="notebook/corpus")
    parser.add_argument("--out", required=True, type=Path, help="where executed notebooks go")
    parser.add_argument("--engine", action="append", help="light, ipython (default: both)")
    parser.add_argument("--reference", action="store_true", help="rerun nbclient + ipykernel first")
    parser.add_argument("--check", action="store_true", help="fail below the corpus floors")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    import nbformat

    corpus = json.loads((args.corpus / "corpus.json").read_text())
    entries = corpus["notebooks"]
    reference_path = args.corpus / "reference.json"
    if args.reference:
        run_reference(args.corpus, entries, reference_path)
    reference = json.loads(reference_path.read_text())["notebooks"]

    engines = args.engine or ["light", "ipython"]
    args.out.mkdir(parents=True, exist_ok=True)
    failures = []
    figures = {}
    for engine in engines:
        per_notebook = {}
        causes = Counter()
        for entry in entries:
            name = entry["path"]
            source = args.corpus / name
            out = args.out / engine / name
            code, stderr = run_pyk(args.pyk, args.python, engine, source, out, entry.get("parameters", []))
            expected = reference.get(name)
            if code == 2 or not out.exists():
                message = stderr.strip().splitlines()[-1:] or ["no output"]
                per_notebook[name] = {"matched": 0, "cells": len(expected or []), "note": message[0]}
                causes["notebook did not run"] += len(expected or [])
                continue
            text = out.read_text()
            nb = nbformat.reads(text, as_version=4)
            try:
                nbformat.validate(nb)
            except nbformat.ValidationError as err:
                failures.append(f"{engine}: {name} does not validate: {err.message}")
            actual = normalise_notebook(json.loads(text))
            matched = 0
            if expected is None:
                failures.append(f"no reference outputs for {name}")
                continue
            if [i for i, _ in expected] != [i for i, _ in actual]:
                causes["cell layout"] += len(expected)
            else:
                for (_, want), (_, got) in zip(expected, actual):
                    if want == got:
                        matched += 1
                    else:
                        causes[cause(want, got)] += 1
            per_notebook[name] = {"matched": matched, "cells": len(expected)}
        figures[engine] = {"notebooks": per_notebook, "causes": dict(causes)}

    print_table(entries, engines, figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
    if args.check:
        for engine, floor in corpus.get("floors", {}).items():
            if engine not in figures:
                continue
            rate = total_rate(figures[engine])
            if rate < floor:
                failures.append(f"{engine}: {rate:.1%} of cells match, below the floor of {floor:.1%}")
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    return 1 if failures else 0


def total_rate(figure: dict) -> float:
    matched = sum(n["matched"] for n in figure["notebooks"].values())
    cells = sum(n["cells"] for n in figure["notebooks"].values())
    return matched / cells if cells else 1.0


def print_table(entries: list, engines: list, figures: dict) -> None:
    width = max(len(entry["path"]) for entry in entries)
    print(f"{'notebook':<{width}}  " + "  ".join(f"{engine:>16}" for engine in engines))
    for entry in entries:
        row = []
        for engine in engines:
            figure = figures[engine]["notebooks"].get(entry["path"])
            row.append(f"{figure['matched']:>7}/{figure['cells']:<8}" if figure else f"{'-':>16}")
        print(f"{entry['path']:<{width}}  " + "  ".join(row))
    totals = []
    for engine in engines:
        notebooks = figures[engine]["notebooks"].values()
        matched = sum(n["matched"] for n in notebooks)
        cells = sum(n["cells"] for n in notebooks)
        totals.append(f"{matched:>4}/{cells:<4} {total_rate(figures[engine]):>6.1%}")
    print(f"{'all cells':<{width}}  " + "  ".join(f"{t:>16}" for t in totals))
    for engine in engines:
        print(f"\ncauses ({engine}, cells):")
        causes = figures[engine]["causes"]
        if not causes:
            print("  none")
        for label, count in sorted(causes.items(), key=lambda item: (-item[1], item[0])):
            print(f"  {count:>4}  {label}")
        for name, figure in figures[engine]["notebooks"].items():
            if "note" in figure:
                print(f"  {name}: {figure['note']}")


if __name__ == "__main__":
    sys.exit(main())

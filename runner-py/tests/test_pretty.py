"""IPython's pretty printer as the runner writes it: results of containers and objects
without a repr of their own, and the layout compared with IPython's own printer where
IPython is installed."""

import collections
import importlib.util
import random
import re

import pytest

from conftest import PYTHON_DIR, ok, result


def load_pretty():
    """The runner's printer module, loaded on its own (it imports nothing of the runner)."""
    spec = importlib.util.spec_from_file_location(
        "runner_pretty", str(PYTHON_DIR / "pykernel_runner" / "pretty.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check(kernel, code):
    """The text/plain of the cell's result, with addresses masked."""
    frames = kernel.run(code)
    ok(frames)
    return re.sub(r"0x[0-9a-f]+", "0x...", result(frames))


def test_a_long_list_breaks_one_item_a_line(kernel):
    assert check(kernel, "list(range(100, 130))") == "[" + ",\n ".join(
        str(n) for n in range(100, 130)
    ) + "]"


def test_short_containers_stay_on_one_line(kernel):
    assert check(kernel, "[1, (2,), {'a': {3, 1, 2}}, frozenset({'b', 'a'}), set()]") == (
        "[1, (2,), {'a': {1, 2, 3}}, frozenset({'a', 'b'}), set()]"
    )


def test_nested_containers_break_the_outer_group_first(kernel):
    text = check(kernel, "{'key%d' % i: list(range(8)) for i in range(5)}")
    assert text == "\n".join(
        [
            "{'key0': [0, 1, 2, 3, 4, 5, 6, 7],",
            " 'key1': [0, 1, 2, 3, 4, 5, 6, 7],",
            " 'key2': [0, 1, 2, 3, 4, 5, 6, 7],",
            " 'key3': [0, 1, 2, 3, 4, 5, 6, 7],",
            " 'key4': [0, 1, 2, 3, 4, 5, 6, 7]}",
        ]
    )


def test_objects_without_their_own_repr_name_their_class(kernel):
    ok(kernel.run("class A:\n    pass\nclass B(A):\n    def __repr__(self):\n        return 'B!'"))
    assert check(kernel, "A()") == "<__main__.A at 0x...>"
    assert check(kernel, "[A(), B()]") == "[<__main__.A at 0x...>, B!]"
    assert check(kernel, "A") == "__main__.A"
    assert check(kernel, "int") == "int"


def test_functions_show_their_signature(kernel):
    ok(kernel.run("def f(x, y=2):\n    pass"))
    assert check(kernel, "f") == "<function __main__.f(x, y=2)>"
    assert check(kernel, "len") == "<function len(obj, /)>"


def test_collections_and_exceptions(kernel):
    code = "import collections\nd = collections.defaultdict(list)\nd['a'].append(1)\n"
    assert check(kernel, code + "d") == "defaultdict(list, {'a': [1]})"
    assert check(kernel, "collections.Counter('aab')") == "Counter({'a': 2, 'b': 1})"
    assert check(kernel, "collections.OrderedDict(a=1)") == "OrderedDict([('a', 1)])"
    assert check(kernel, "ValueError('bad', 2)") == "ValueError('bad', 2)"
    assert check(kernel, "l = [1]\nl.append(l)\nl") == "[1, [...]]"


def test_repr_pretty_is_honoured(kernel):
    code = (
        "class P:\n"
        "    def _repr_pretty_(self, p, cycle):\n"
        "        with p.group(2, 'P(', ')'):\n"
        "            for i in range(30):\n"
        "                if i:\n"
        "                    p.text(',')\n"
        "                    p.breakable()\n"
        "                p.pretty(i * 1000)\n"
        "P()"
    )
    text = check(kernel, code)
    assert text.startswith("P(0,\n  1000,\n  2000,")
    assert text.endswith("29000)")


def test_a_multiline_repr_keeps_its_lines(kernel):
    code = "class M:\n    def __repr__(self):\n        return 'one\\ntwo'\n[M(), M()]"
    assert check(kernel, code) == "[one\n two,\n one\n two]"


def _random_value(rng, depth):
    if depth > 3 or rng.random() < 0.3:
        return rng.choice(
            [rng.randint(-(10 ** rng.randint(0, 12)), 10**8), "s" * rng.randint(0, 30), 1.5,
             None, True, b"ab", len, int, ValueError("x", 2), re.compile("a+", re.I)]
        )
    count = rng.randint(0, 6) if rng.random() < 0.7 else rng.randint(10, 40)
    items = [_random_value(rng, depth + 1) for _ in range(count)]
    kind = rng.choice(["list", "tuple", "dict", "set", "frozenset", "defaultdict", "deque"])
    if kind == "list":
        return items
    if kind == "tuple":
        return tuple(items)
    if kind == "dict":
        return {("k%d" % i if rng.random() < 0.7 else i): v for i, v in enumerate(items)}
    if kind == "set":
        return {rng.randint(0, 1000) for _ in range(count)}
    if kind == "frozenset":
        return frozenset("w%d" % rng.randint(0, 1000) for _ in range(count))
    if kind == "defaultdict":
        value = collections.defaultdict(list)
        value.update(enumerate(items))
        return value
    return collections.deque(items)


def test_the_layout_matches_ipythons_printer():
    ipython_pretty = pytest.importorskip("IPython.lib.pretty")
    pretty = load_pretty()
    rng = random.Random(14)
    values = [list(range(2000)), [[list(range(30))] * 3], {"a": list(range(40))}, (1,)]
    # 150 random values take about 10 s (both printers), enough to cover every shape.
    values += [_random_value(rng, 0) for _ in range(150)]
    mismatches = [v for v in values if pretty.pretty(v) != ipython_pretty.pretty(v)]
    assert mismatches == []


def test_an_objects_own_repr_is_computed_once(kernel):
    code = (
        "class Costly:\n"
        "    calls = 0\n"
        "    def __repr__(self):\n"
        "        Costly.calls += 1\n"
        "        return 'costly'\n"
        "Costly()"
    )
    assert check(kernel, code) == "costly"
    assert result(kernel.run("Costly.calls")) == "1"

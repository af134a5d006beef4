"""Cell transforms: pasted prompts (``>>> ``, ``In [1]: ``) stripped, magics
(``%name``, ``%%name``), shell escapes (``!cmd``, ``x = !cmd``, ``x = %name``) and help
(``obj?``, ``obj??``, ``*pat*?``, ``?obj``) rewritten into calls on ``__pykernel__``.

Imported on first use: only a cell with ``%``, ``!``, ``?`` or a prompt needs this module.
"""

_RE = {}  # name -> compiled pattern, compiled on first use


def _re(name, pattern, flags=0):
    compiled = _RE.get(name)
    if compiled is None:
        import re

        compiled = _RE[name] = re.compile(pattern, flags)
    return compiled


def _assign_re():
    return _re(
        "assign",
        r"^([A-Za-z_][\w.]*(?:\[[^\]]*\])*(?:\s*,\s*[A-Za-z_][\w.]*(?:\[[^\]]*\])*)*)"
        r"\s*=\s*([!%])(.*)$",
        16,  # re.DOTALL
    )


class _ScanState:
    __slots__ = ("depth", "quote", "cont")

    def __init__(self):
        self.depth = 0
        self.quote = None
        self.cont = False

    def at_statement_start(self):
        return self.depth == 0 and self.quote is None and not self.cont


def _scan_line(line, st):
    """Advances the bracket/string state over one line of Python source."""
    tokens = _re("tokens", r"'''|\"\"\"|'|\"|#|[(\[{]|[)\]}]|\\$")
    st.cont = False
    pos = 0
    while True:
        if st.quote is not None:
            quote = st.quote
            end = _re("end" + quote, r"\\(?:.|$)|" + quote.replace('"', '\\"'))
            while True:
                match = end.search(line, pos)
                if match is None:
                    if len(quote) == 1 and not line.endswith("\\"):
                        st.quote = None  # an unterminated short string ends at the newline
                    return
                pos = match.end()
                if match.group()[0] != "\\":
                    st.quote = None
                    break
            continue
        match = tokens.search(line, pos)
        if match is None:
            return
        token = match.group()
        pos = match.end()
        if token == "#":
            return
        if token == "\\":
            st.cont = True
            return
        if token in ("(", "[", "{"):
            st.depth += 1
        elif token in (")", "]", "}"):
            st.depth = max(0, st.depth - 1)
        else:
            st.quote = token


def _split_magic(text):
    text = text.strip()
    parts = text.split(None, 1)
    if not parts:
        return "", ""
    return parts[0], (parts[1] if len(parts) > 1 else "")


def strip_prompts(code):
    """Strips pasted prompts as IPython does: ``>>> ``/``... `` when the first or second
    line has one, ``In [N]: ``/``   ...: `` when the first line starts with ``In [N]: `` or
    the second has a continuation prompt. Blank lines before stay, so line numbers hold."""
    if ">>>" not in code and "..." not in code and "In [" not in code:
        return code
    lines = code.split("\n")
    first = 0
    while first < len(lines) and not lines[first].strip():
        first += 1
    head = lines[first:]
    if not head:
        return code
    for prompt, initial in (
        (_re("classic", r"^(>>>|\.\.\.)( |$)"), None),
        (_re("ipython", r"^(In \[\d+\]: |\s*\.{3,}: ?)"), _re("ipython_first", r"^In \[\d+\]: ")),
    ):
        starts = (initial or prompt).match(head[0])
        if starts or (len(head) > 1 and prompt.match(head[1])):
            head = [prompt.sub("", line, count=1) for line in head]
    return "\n".join(lines[:first] + head)


def transform_cell(code):
    """Rewrites magics, shell escapes and help into calls on ``__pykernel__``, after
    stripping pasted prompts.

    Only lines that start a statement are rewritten (never lines inside a string or
    open brackets), and a cell magic only on the cell's first non-blank line. Line
    numbers are preserved so tracebacks point at the user's lines.
    """
    code = strip_prompts(code)
    if "%" not in code and "!" not in code and "?" not in code:
        return code
    if not _may_have_magics(code):
        return code
    lines = code.replace("\r\n", "\n").split("\n")
    first = 0
    while first < len(lines) and not lines[first].strip():
        first += 1
    if first < len(lines) and lines[first].lstrip().startswith("%%"):
        name, args = _split_magic(lines[first].strip()[2:])
        # As IPython passes it: blank lines emptied, and a newline at the end.
        body = "\n".join(line if line.strip() else "" for line in lines[first + 1 :])
        if body and not body.endswith("\n"):
            body += "\n"
        return "\n" * first + "__pykernel__.cell_magic(%r, %r, %r, %d)\n" % (
            name,
            args,
            body,
            first + 1,
        )
    out = []
    st = _ScanState()
    index = 0
    count = len(lines)
    assign = _assign_re()
    while index < count:
        line = lines[index]
        if st.at_statement_start():
            stripped = line.lstrip()
            if (
                stripped.startswith(("%", "!", "?"))
                or stripped.rstrip().endswith("?")
                or assign.match(stripped)
            ):
                indent = line[: len(line) - len(stripped)]
                text = stripped.rstrip()
                last = index
                while text.endswith("\\") and last + 1 < count:
                    last += 1
                    text = text[:-1].rstrip() + " " + lines[last].strip()
                rewritten = _rewrite_line(text)
                if rewritten is not None:
                    out.append(indent + rewritten)
                    out.extend([""] * (last - index))
                    index = last + 1
                    continue
        _scan_line(line, st)
        out.append(line)
        index += 1
    return "\n".join(out)


def _may_have_magics(code):
    """A cheap pre-check (no regex): does any line start with ``%``/``!``, or have
    ``%``/``!`` right after an ``=``?"""
    for line in code.split("\n"):
        stripped = line.lstrip(" \t")
        if stripped[:1] in ("%", "!", "?") or stripped.rstrip().endswith("?"):
            return True
        equals = stripped.find("=")
        while equals >= 0:
            if stripped[equals + 1 :].lstrip(" \t")[:1] in ("%", "!"):
                return True
            equals = stripped.find("=", equals + 1)
    return False


def _help_re():
    return _re("help", r"^(%{0,2}(?!\d)[\w*]+(?:\.(?!\d)[\w*]+)*)(\?\??)$")


def _rewrite_help(text):
    """``obj?``, ``obj??``, ``*pat*?`` and ``?obj``/``??obj`` as IPython reads them: a
    call of ``%pinfo``, ``%pinfo2`` or ``%psearch``; ``?`` alone pages the quick
    reference, as IPython pages its introduction."""
    if text in ("?", "??"):
        return "__pykernel__.line_magic('quickref', '')"
    if text.startswith("?"):
        marks = "??" if text.startswith("??") else "?"
        text = text[len(marks) :].strip() + marks
    match = _help_re().match(text)
    if match is None:
        return None
    target, marks = match.group(1), match.group(2)
    if marks == "??":
        method = "pinfo2"
    elif "*" in target:
        method = "psearch"
    else:
        method = "pinfo"
    return "__pykernel__.line_magic(%r, %r)" % (method, target)


def _rewrite_line(text):
    if text.startswith("?") or (text.endswith("?") and not text.startswith("!")):
        rewritten = _rewrite_help(text)
        if rewritten is not None:
            return rewritten
    match = _assign_re().match(text)
    if match is not None:
        target, kind, rest = match.group(1), match.group(2), match.group(3)
        if kind == "!":
            return "%s = __pykernel__.getoutput(%r)" % (target, rest.strip())
        if rest.startswith("%"):
            return None
        name, args = _split_magic(rest)
        return "%s = __pykernel__.line_magic(%r, %r)" % (target, name, args)
    if text.startswith("!!"):
        return "__pykernel__.getoutput(%r)" % text[2:].strip()
    if text.startswith("!"):
        return "__pykernel__.system(%r)" % text[1:].strip()
    if text.startswith("%"):
        body = text[1:]
        suffix = ""
        if body.endswith(";"):
            body = body[:-1]
            suffix = ";"
        name, args = _split_magic(body)
        return "__pykernel__.line_magic(%r, %r)%s" % (name, args, suffix)
    return None

#!/usr/bin/env python3
"""The library's module graph, from the `crate::` paths each module's files name.

Prints one line per top-level module of src/lib.rs with the modules it uses, in an order where
each module comes after every module it uses, and exits 1 naming the modules of any cycle.
`make lint` runs it: a module must only use modules below it (the README's module stack).

Why a scan and not cargo-modules: cargo-modules builds on rust-analyzer (several minutes of
compiling on a clean CI machine, for every run), and this crate names other modules only
through `crate::` paths (`use crate::x::…`, `crate::x::f(…)`, `crate::{x, y}`) and `super::`
chains, which a scan of the source with comments and strings removed reads exactly. Cargo's
own checks still catch a path the scan would miss: it does not build without it.
"""

import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"


def strip(text: str) -> str:
    """Source without comments, string and char literals (doc links name modules too)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            i = n if end < 0 else end + 1 + len(hashes)
            out.append('""')
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]):
            i += text[i:].index("'", 1 + (text[i + 1] == "\\")) + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def modules() -> list[str]:
    lib = strip((SRC / "lib.rs").read_text())
    return re.findall(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+([a-z_0-9]+)\s*;", lib, re.M)


def files_of(module: str) -> list[Path]:
    files = [SRC / f"{module}.rs"] if (SRC / f"{module}.rs").exists() else []
    if (SRC / module).is_dir():
        files += sorted((SRC / module).rglob("*.rs"))
    return files


def module_path(path: Path) -> list[str]:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "mod":
        parts.pop()
    return parts


def uses(path: Path, known: set[str]) -> set[str]:
    """The top-level modules `path` names through `crate::` or `super::` paths."""
    text = strip(path.read_text())
    found = set()
    for group in re.findall(r"\bcrate\s*::\s*\{([^}]*)\}", text):
        found.update(re.findall(r"(?:^|,)\s*([a-z_0-9]+)", group))
    found.update(re.findall(r"\bcrate\s*::\s*([a-z_0-9]+)", text))
    here = module_path(path)
    for chain, name in re.findall(r"\b((?:super\s*::\s*)+)([a-z_0-9]+)", text):
        ups = chain.count("super")
        if ups == len(here):
            found.add(name)
    return found & known


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module, or a module using itself."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    names = modules()
    known = set(names)
    graph = {m: set() for m in names}
    for m in names:
        for f in files_of(m):
            graph[m] |= uses(f, known) - {m}
    found = cycles(graph)
    # Print bottom-up: a module after all it uses (ties by name); cycles last.
    placed, order = set(), []
    while len(placed) < len(graph):
        ready = sorted(m for m in graph if m not in placed and graph[m] <= placed)
        if not ready:
            break
        order += ready
        placed |= set(ready)
    width = max(map(len, names))
    print("funcgate's modules, each after the modules it uses:")
    for m in order + sorted(set(graph) - placed):
        print(f"  {m:<{width}}  uses {', '.join(sorted(graph[m])) or '-'}")
    for component in found:
        members = set(component)
        edges = [f"{a} -> {b}" for a in component for b in sorted(graph[a] & members)]
        print(f"module cycle: {', '.join(component)} ({'; '.join(edges)})", file=sys.stderr)
    if found:
        return 1
    print("no module cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Checks the #include "..." graph of the C sources.

shim/: a module (x.c with x.h) may include its own layer's headers and
those of the layers below it, never above, and no modules include each
other in a circle.  The layers are declared once, in shim/Makefile's
LAYER_<n>_<name> variables, bottom (1) to top; the build takes its sources
from the same lines, so every module of the shim has a layer.
extension/: no circle (it declares no layers).

Headers from outside the directory (system, libraries, include/) are not
part of the graph.  Prints one line per failed check and ends with
`N passed, M failed (include graph)`.

    python3 scripts/check-layers.py [REPO]
"""

import re
import sys
from pathlib import Path

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
LAYER = re.compile(r"^LAYER_(\d+)_(\w+)\s*=(.*)$", re.M)


def modules_of(directory):
    """Module name -> its files (x.c and x.h are module x)."""
    modules = {}
    for path in sorted(directory.glob("*.[ch]")):
        modules.setdefault(path.stem, []).append(path)
    return modules


def module_graph(directory):
    """Module -> the modules of this directory whose headers it includes."""
    modules = modules_of(directory)
    graph = {}
    for name, paths in modules.items():
        edges = set()
        for path in paths:
            for header in INCLUDE.findall(path.read_text(errors="replace")):
                target = Path(header).stem
                if Path(header).name == header and (directory / header).exists() and target != name:
                    edges.add(target)
        graph[name] = edges
    return graph


def find_cycle(graph):
    """One circle of modules as a list (first == last), or None."""
    state = {}  # absent: unseen; 1: on the path; 2: done

    def visit(node, path):
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target, path)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node, [])
            if cycle:
                return cycle
    return None


def declared_layers(makefile):
    """Module -> (layer number, layer name), from the LAYER_<n>_<name> lines."""
    layers = {}
    for number, name, members in LAYER.findall(makefile.read_text()):
        for module in members.split():
            layers[module] = (int(number), name.lower())
    return layers


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, failure):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL " + failure)


def check_acyclic(checks, label, graph):
    cycle = find_cycle(graph)
    checks.check(cycle is None, f"{label}: modules include each other in a circle: "
                 + " -> ".join(cycle or []))


def check_layers(checks, directory, graph, layers):
    for module in sorted(graph):
        if module not in layers:
            checks.check(False, f"{directory.name}/{module}: no layer; add it to a LAYER_ line "
                         "of shim/Makefile")
            continue
        number, name = layers[module]
        above = sorted(t for t in graph[module] if t in layers and layers[t][0] > number)
        checks.check(not above, f"{directory.name}/{module} (layer {number} {name}) includes "
                     + ", ".join(f"{t}.h (layer {layers[t][0]} {layers[t][1]})" for t in above))
    for module in sorted(set(layers) - set(graph)):
        checks.check(False, f"shim/Makefile declares {module}, which has no file in "
                     f"{directory.name}/")


def main():
    repo = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1])
    checks = Checks()
    shim = repo / "shim"
    graph = module_graph(shim)
    check_acyclic(checks, "shim", graph)
    check_layers(checks, shim, graph, declared_layers(shim / "Makefile"))
    check_acyclic(checks, "extension", module_graph(repo / "extension"))
    print(f"{checks.passed} passed, {checks.failed} failed (include graph)")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())

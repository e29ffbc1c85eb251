#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Fails when a module reaches a module above it.

The modules are the directories under src/, in the order the top-level
meson.build enters them (`subdir('src/<module>')`): each may use only the modules
entered before it. This check reads that order and then, for every module:

- its sources (src/<module>/) and public headers (include/layerlock/<module>/)
  may include "layerlock/<other>/..." only for an <other> entered earlier;
- its sources may not include a private header of another module ("../x/y.hpp");
- its meson.build may name <other>_dep or <other>_lib only for an earlier <other>.

Tests and benchmarks reach modules through include/ only, never through a
module's private headers under src/. A directory under src/ that meson.build does
not enter is reported too (its place in the order would be unknown).

Usage: check_layering.py SOURCE_ROOT     (exit 1 naming file, line and the edge)
       check_layering.py --self-test     (proves each rule reports what it should)
"""
import os
import re
import sys
import tempfile

SUBDIR = re.compile(r"^\s*subdir\('src/(\w+)'\)", re.M)
PUBLIC_INCLUDE = re.compile(r'^\s*#\s*include\s*"layerlock/(\w+)/')
RELATIVE_INCLUDE = re.compile(r'^\s*#\s*include\s*"(\.\./[^"]*)"')
PRIVATE_FROM_OUTSIDE = re.compile(r'^\s*#\s*include\s*"(?:\.\./)*src/')
MESON_NAME = re.compile(r"\b(\w+?)_(?:dep|lib)\b")
SOURCE_SUFFIXES = (".cpp", ".hpp", ".h", ".cc")


def module_order(root):
    with open(os.path.join(root, "meson.build"), encoding="utf-8") as f:
        return SUBDIR.findall(f.read())


def source_files(directory):
    for dirpath, _, names in os.walk(directory):
        for name in sorted(names):
            if name.endswith(SOURCE_SUFFIXES):
                yield os.path.join(dirpath, name)


def numbered_lines(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        yield from enumerate(f, 1)


def check(root):
    problems = []
    order = module_order(root)
    rank = {m: i for i, m in enumerate(order)}
    src = os.path.join(root, "src")
    for entry in sorted(os.listdir(src)):
        if os.path.isdir(os.path.join(src, entry)) and entry not in rank:
            problems.append(f"src/{entry}: not entered by meson.build (subdir('src/{entry}')), so its layer is unknown")

    def report(path, line, text):
        problems.append(f"{os.path.relpath(path, root)}:{line}: {text}")

    for module in order:
        for top in (os.path.join(src, module), os.path.join(root, "include", "layerlock", module)):
            for path in source_files(top):
                for n, line in numbered_lines(path):
                    m = PUBLIC_INCLUDE.match(line)
                    if m and m.group(1) in rank and rank[m.group(1)] > rank[module]:
                        report(path, n, f"{module} includes {m.group(1)}, a module above it")
                    elif m and m.group(1) not in rank:
                        report(path, n, f"{module} includes layerlock/{m.group(1)}/, which is no module")
                    r = RELATIVE_INCLUDE.match(line)
                    if r and top.startswith(src):
                        report(path, n, f"{module} includes {r.group(1)}, a private header of another directory")
        meson = os.path.join(src, module, "meson.build")
        if os.path.exists(meson):
            for n, line in numbered_lines(meson):
                for name in MESON_NAME.findall(line.split("#", 1)[0]):
                    if name in rank and rank[name] > rank[module]:
                        report(meson, n, f"{module} links {name}, a module above it")

    for outside in ("tests", "bench"):
        for path in source_files(os.path.join(root, outside)):
            for n, line in numbered_lines(path):
                if PRIVATE_FROM_OUTSIDE.match(line):
                    report(path, n, "includes a module's private header (use include/layerlock/...)")
    return problems


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def self_test():
    """A tree that breaks each rule once, and the same tree repaired."""
    with tempfile.TemporaryDirectory() as root:
        write(root, "meson.build", "subdir('src/low')\nsubdir('src/high')\n")
        write(root, "src/low/a.cpp", '#include "layerlock/low/a.hpp"\n#include "layerlock/high/b.hpp"\n')
        write(root, "include/layerlock/low/a.hpp", '#include "layerlock/high/b.hpp"\n')
        write(root, "src/low/meson.build", "low_lib = static_library('x', dependencies : [high_dep])\n")
        write(root, "src/high/b.cpp", '#include "layerlock/low/a.hpp"\n#include "../low/private.hpp"\n')
        write(root, "src/high/meson.build", "high_lib = static_library('y', dependencies : [low_dep])\n")
        write(root, "src/stray/c.cpp", "\n")
        write(root, "tests/t.cpp", '#include "../../src/high/impl.hpp"\n')
        found = check(root)
        expected = [
            "src/stray: not entered",
            "src/low/a.cpp:2: low includes high",
            "include/layerlock/low/a.hpp:1: low includes high",
            "src/low/meson.build:1: low links high",
            "src/high/b.cpp:2: high includes ../low/private.hpp",
            "tests/t.cpp:1: includes a module's private header",
        ]
        missing = [e for e in expected if not any(p.startswith(e) for p in found)]
        if missing or len(found) != len(expected):
            print("self-test: expected", expected, "found", found, sep="\n  ")
            return 1
        os.remove(os.path.join(root, "src/stray/c.cpp"))
        os.rmdir(os.path.join(root, "src/stray"))
        write(root, "src/low/a.cpp", '#include "layerlock/low/a.hpp"\n')
        write(root, "include/layerlock/low/a.hpp", "\n")
        write(root, "src/low/meson.build", "low_lib = static_library('x') # not high_dep\n")
        write(root, "src/high/b.cpp", '#include "layerlock/low/a.hpp"\n#include "private.hpp"\n')
        write(root, "tests/t.cpp", '#include "layerlock/high/b.hpp"\n')
        if check(root):
            print("self-test: the repaired tree still reports", check(root))
            return 1
    return 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    if self_test():
        return 1
    problems = check(argv[1])
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} layering violation(s); the order is the subdir() order in meson.build")
        return 1
    print(f"layering holds: {len(module_order(argv[1]))} modules")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

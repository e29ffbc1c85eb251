#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Fails when a script of the test run calls a program that scripts/dev.sh does
not install.

CI runs on a machine where things may have been installed by hand, so a green run
can hide a missing install step (podman once passed here and failed on a fresh
machine). This check reads every shell script the tests run (tests/**/*.sh,
scripts/*.sh, packaging/deb/build.sh, .ci/run), finds the command word of every
simple command (also inside $(...), after &&, ||, |, ;, and after prefixes such as
timeout, setsid, env, xargs, nsenter, unshare), resolves it with PATH, and asks dpkg
which package provides it. The program must exist and its package must be one
that scripts/dev.sh lists, or one a fresh Debian 12 always has (Essential: yes or
Priority: required). Host programs named as string literals by the C++ tests
("/bin/busybox") are checked the same way when they exist on this host.

Usage: check_install_deps.py SOURCE_ROOT        (exit 1 naming each problem)
"""
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys

# The PATH scripts/dev.sh gives the test run: Debian's programs, never /usr/local.
SEARCH_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

# Words that run the word after them (after their own options).
PREFIXES = {
    "command": 0, "exec": 0, "nohup": 0, "setsid": 0, "time": 0, "builtin": 0,
    "env": 0, "nice": 0, "stdbuf": 0, "ionice": 0, "xargs": 0, "sudo": 0,
    "timeout": 1,          # timeout [options] DURATION COMMAND
    "nsenter": 0, "unshare": 0, "chroot": 1, "strace": 0, "taskset": 1, "flock": 1,
}
# Options of those prefixes that take a separate argument.
OPTIONS_WITH_ARG = {
    "-s", "--signal", "-k", "--kill-after", "-n", "--adjustment", "-t", "--target", "-e",
    "-o", "-u", "-g", "-p", "-w", "-I", "-d", "-L", "-P", "-S", "--wd", "-C", "--propagation",
}
OWN_PROGRAMS = {"layerlock", "layerlockd"}
KEYWORDS_BEFORE_COMMAND = {"if", "then", "else", "elif", "do", "while", "until", "!", "{", "time", "}", "fi",
                           "done"}
NOT_COMMANDS = {"[[", "[", "]]", "((", "for", "select", "function", "return", "local", "export", "declare",
                "readonly", "unset", "trap", "shift", "wait", "in"}
PUNCT = ";&|()<>\n"


def bash_words():
    out = subprocess.run(["bash", "-c", "compgen -b; compgen -k"], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def strip_heredocs(text):
    """Drops here-document bodies (their text is data, not commands)."""
    out, end = [], None
    for line in text.split("\n"):
        if end is not None:
            out.append("")   # keeps line numbers
            if line.strip() == end:
                end = None
            continue
        out.append(line)
        m = re.search(r"(?<!<)<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1", line)
        if m:
            end = m.group(2)
    return "\n".join(out)


def strip_comments(text):
    """Removes shell comments (an unquoted # at the start of a word, to the end of
    its line), so that an apostrophe in a comment cannot open a quote."""
    out, quote, i = [], None, 0
    while i < len(text):
        c = text[i]
        if quote is None and c == "#" and (i == 0 or text[i - 1] in " \t\n;|&()"):
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        if c == "\\" and quote != "'" and i + 1 < len(text):
            out.append(text[i:i + 2])
            i += 2
            continue
        if c in "'\"" and quote in (None, c):
            quote = None if quote == c else c
        out.append(c)
        i += 1
    return "".join(out)


def substitutions(text):
    """(offset, text) of every $( ... ) and `...` in raw shell text (quotes kept),
    nested ones included, so that commands inside "$(...)" are found too."""
    found, i = [], 0
    while i < len(text):
        if text.startswith("$((", i):   # arithmetic, not a command
            i += 3
            continue
        if text.startswith("$(", i):
            depth, j = 1, i + 2
            while j < len(text) and depth:
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                j += 1
            found.append((i + 2, text[i + 2:j - 1]))
            i += 2
            continue
        i += 1
    found.extend((m.start(1), m.group(1)) for m in re.finditer(r"`([^`]*)`", text))
    return found


def blank_substitutions(text):
    """The text with every top-level $(...) and $((...)) replaced by a plain word
    (newlines kept): their contents are scanned on their own (substitutions), and
    quotes nested inside them would confuse a lexer reading the outer line."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$(", i):
            depth, j = 1, i + 2
            while j < len(text) and depth:
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                j += 1
            out.append("$S" + "\n" * text.count("\n", i, j))
            i = j
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def lex(text):
    """(line, token) pairs; newlines and ; & | ( ) < > are tokens of their own."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=PUNCT)
    lexer.whitespace = " \t\r"
    lexer.whitespace_split = True
    lexer.commenters = ""
    out, line = [], 1   # shlex's own lineno runs ahead of the token: count newlines instead
    try:
        while True:
            t = lexer.get_token()
            if t is None or t == lexer.eof:
                break
            out.append((line, t))
            line += t.count("\n")
    except ValueError:   # an unbalanced quote: what was read so far still counts
        pass
    return out


def skip_prefix(words, i):
    """Index of the command word after a prefix such as `timeout 5`."""
    name = os.path.basename(words[i][1])
    positional = PREFIXES[name]
    i += 1
    while i < len(words):
        w = words[i][1]
        if name == "env" and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", w):
            i += 1
            continue
        if w == "--":
            return i + 1
        if w.startswith("-"):
            i += 2 if (w in OPTIONS_WITH_ARG and "=" not in w) else 1
            continue
        if positional:
            positional -= 1
            i += 1
            continue
        return i
    return i


def command_words(text, first_line=1):
    """(line, word) of the command word of every simple command in `text`."""
    words = lex(text)
    found, at_start, i, case_state = [], True, 0, None   # case_state: None | "pattern" | "arm"
    while i < len(words):
        line, w = words[i]
        line += first_line - 1
        if at_start and re.match(r"^[A-Za-z_][A-Za-z0-9_]*\+?=$", w) and i + 1 < len(words) and words[i + 1][1] == "(":
            while i < len(words) and ")" not in words[i][1]:   # an array assignment: NAME=( values )
                i += 1
            i += 1
            continue
        if not w:                                        # '' (an empty argument)
            at_start = False
            i += 1
            continue
        if set(w) <= set(PUNCT) and w.startswith("((") and at_start:
            while i < len(words) and "))" not in words[i][1]:   # (( arithmetic ))
                i += 1
            i += 1
            continue
        if set(w) <= set(PUNCT):
            if ("<" in w or ">" in w) and not set(w) & set(";()\n|"):
                i += 2                                   # a redirection and its target
                continue
            if case_state == "pattern" and ")" in w:
                case_state = "arm"
            if ";;" in w and case_state == "arm":
                case_state = "pattern"
            at_start = True
            i += 1
            continue
        if w == "case":
            case_state, at_start = "open", False
        elif w == "in" and case_state == "open":
            case_state = "pattern"
        elif w == "esac":
            case_state, at_start = None, False
        elif case_state == "pattern":
            pass                                         # a pattern, not a command
        elif w in KEYWORDS_BEFORE_COMMAND:
            at_start = True
        elif at_start and re.match(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=", w):
            pass                                         # an assignment before the command
        elif at_start and os.path.basename(w) in PREFIXES:
            i = skip_prefix(words, i)
            continue
        elif at_start:
            if w not in NOT_COMMANDS:
                found.append((line, w))
            at_start = False
        i += 1
    return found


def join_continuations(text):
    """Joins backslash-continued lines; the newlines removed are added after the
    joined line, so later lines keep their numbers."""
    out, pending = [], 0
    for line in text.split("\n"):
        if line.endswith("\\") and not line.endswith("\\\\"):
            out.append(line[:-1] + " ")
            pending += 1
            continue
        out.append(line + "\n" * pending + "\n")
        pending = 0
    return "".join(out)


def script_commands(path):
    text = open(path, encoding="utf-8", errors="replace").read()
    text = strip_comments(strip_heredocs(join_continuations(text)))
    found = command_words(blank_substitutions(text))
    for offset, inner in substitutions(text):
        found.extend(command_words(blank_substitutions(inner), text.count("\n", 0, offset) + 1))
    return found


def functions_defined(paths):
    names = set()
    for p in paths:
        for line in open(p, encoding="utf-8", errors="replace"):
            m = re.match(r"^\s*(?:function\s+)?([A-Za-z_][A-Za-z0-9_-]*)\s*\(\)", line)
            if m:
                names.add(m.group(1))
    return names


def dev_sh_packages(root):
    out = subprocess.run(["bash", os.path.join(root, "scripts/dev.sh"), "deps"], capture_output=True, text=True,
                         check=True)
    return set(out.stdout.split())


def with_dependencies(packages):
    """The packages and everything they depend on (as installed here): installing
    python3 installs python3-minimal too."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Package}\t${Depends}, ${Pre-Depends}\n"], capture_output=True,
                         text=True, check=True)
    deps = {}
    for line in out.stdout.splitlines():
        name, _, rest = line.partition("\t")
        names = re.findall(r"(?:^|[,|]\s*)([a-z0-9][a-z0-9.+-]+)", rest)
        deps[name] = {n.split(":")[0] for n in names}
    closure, todo = set(), list(packages)
    while todo:
        p = todo.pop()
        if p in closure:
            continue
        closure.add(p)
        todo.extend(deps.get(p, ()))
    return closure


def always_installed():
    out = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Essential} ${Priority}\n"], capture_output=True,
                         text=True, check=True)
    base = set()
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and (parts[1] == "yes" or parts[2] == "required"):
            base.add(parts[0])
    return base


def candidates(path):
    """A program's path as dpkg may have recorded it: as found, resolved, and
    across /usr-merge (/bin/busybox is /usr/bin/busybox)."""
    out = [path, os.path.realpath(path)]
    for c in list(out):
        out.append(c[4:] if c.startswith("/usr/") else "/usr" + c)
    return out


def dpkg_owners(paths):
    """path -> packages, for the paths dpkg knows (one dpkg -S for all of them)."""
    r = subprocess.run(["dpkg", "-S"] + sorted(set(paths)), capture_output=True, text=True)
    owners = {}
    for line in r.stdout.splitlines():
        if line.startswith("diversion by") or ": " not in line:
            continue
        pkgs, _, owned = line.partition(": ")
        owners.setdefault(owned.strip(), set()).update(p.strip().split(":")[0] for p in pkgs.split(","))
    return owners


def problems_in(root):
    scripts = sorted(set(glob.glob(os.path.join(root, "tests/**/*.sh"), recursive=True) +
                         glob.glob(os.path.join(root, "scripts/*.sh")) +
                         [os.path.join(root, "packaging/deb/build.sh"), os.path.join(root, ".ci/run"),
                          os.path.join(root, "bench/watchdog_systemd.sh")]))   # run by e2e/systemd_unit
    scripts = [s for s in scripts if os.path.isfile(s)]
    ignore = bash_words() | functions_defined(scripts)
    allowed = with_dependencies(dev_sh_packages(root) | always_installed())
    uses = {}   # program -> first (file, line)
    for path in scripts:
        for no, word in script_commands(path):
            if "$" in word or word in ignore or not word:
                continue
            if "/" in word and not word.startswith("/"):
                continue   # a script of the tree or a built program ("$BUILD/...", "scripts/dev.sh")
            if os.path.basename(word) in OWN_PROGRAMS:
                continue   # built by the test run itself (or installed from the .deb it builds)
            if not re.match(r"^[A-Za-z0-9_./+-]+$", word) or word.startswith("-"):
                continue
            uses.setdefault(word, (os.path.relpath(path, root), no))
    # C++ tests: host programs they run or copy (a literal on a line that runs,
    # execs or copies it); other literals are paths inside test images.
    for src in glob.glob(os.path.join(root, "tests/**/*.[ch]pp"), recursive=True):
        for no, line in enumerate(open(src, encoding="utf-8", errors="replace"), 1):
            if not re.search(r"\brun\(|exec[lv]|posix_spawn|copy_file|kBusybox", line):
                continue
            for m in re.finditer(r'"(/(?:usr/)?s?bin/[A-Za-z0-9_.+-]+)"', line):
                if os.path.exists(m.group(1)):
                    uses.setdefault(m.group(1), (os.path.relpath(src, root), no))
    problems, found = [], {}
    for word in uses:
        found[word] = word if word.startswith("/") and os.access(word, os.X_OK) else shutil.which(word, path=SEARCH_PATH)
    owners = dpkg_owners([c for f in found.values() if f for c in candidates(f)])
    for word, (where, no) in sorted(uses.items()):
        if not found[word]:
            problems.append(f'"{word}" (called in {where}:{no}) is not installed, and no package in '
                            f'scripts/dev.sh provides it')
            continue
        pkgs = next((owners[c] for c in candidates(found[word]) if c in owners), set())
        if not pkgs:
            problems.append(f'"{word}" (called in {where}:{no}) is {found[word]}, which no Debian package provides '
                            f'(installed by hand?)')
        elif not pkgs & allowed:
            problems.append(f'"{word}" (called in {where}:{no}) comes from {", ".join(sorted(pkgs))}, which '
                            f'scripts/dev.sh does not install')
    return len(uses), problems


def self_test(root):
    """The check fails, naming the program, for a script that calls a program no
    package provides and one whose package scripts/dev.sh does not install."""
    import tempfile
    with tempfile.TemporaryDirectory() as tree:
        os.makedirs(os.path.join(tree, "scripts"))
        os.makedirs(os.path.join(tree, "tests/e2e"))
        with open(os.path.join(root, "scripts/dev.sh")) as src, open(os.path.join(tree, "scripts/dev.sh"), "w") as dst:
            dst.write(src.read())
        with open(os.path.join(tree, "tests/e2e/probe.sh"), "w") as f:
            f.write("out=$(ll-no-such-program --flag)\n"      # installed by nobody
                    "timeout 5 dpkg-query -W >/dev/null\n")  # essential: fine
        _, problems = problems_in(tree)
        ok = len(problems) == 1 and '"ll-no-such-program"' in problems[0] and "probe.sh:1" in problems[0]
        if not ok:
            print("self-test failed: the check did not report exactly the missing program:", problems)
        return ok


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    if not self_test(root):
        return 1
    count, problems = problems_in(root)
    for p in problems:
        print("missing install step: " + p)
    print(f"{count} programs called by the test scripts, {len(problems)} not installed by scripts/dev.sh")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

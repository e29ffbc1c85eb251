#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Reads layerlock's outputs back into records, strictly, for the tests.

Every value taken from a container is written escaped (include/layerlock/base/
escape.hpp): \\\\ \\" \\n \\t \\r and \\xNN. unescape() is the inverse and refuses what
escape() never produces (a raw quote or control character, a dangling
backslash). parse_line() reads one human alert line ("KIND drift ACTION: k=v
k="v" ...") and fails on anything that is not exactly that, so a forged field or
a second line shows up as a parse error or a wrong value.

As a program:  llrecords.py unescape TEXT      prints the raw bytes of TEXT
"""
import re
import sys


def unescape(text):
    out, i = bytearray(), 0
    while i < len(text):
        c = text[i]
        if c == '"' or ord(c) < 0x20:
            raise ValueError(f"unescaped {c!r} in {text!r}")
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        if i + 1 >= len(text):
            raise ValueError(f"dangling backslash in {text!r}")
        n = text[i + 1]
        if n in 'nrt\\"':
            out += {"n": b"\n", "r": b"\r", "t": b"\t", "\\": b"\\", '"': b'"'}[n]
            i += 2
        elif n == "x" and re.match(r"[0-9a-fA-F]{2}", text[i + 2:i + 4]):
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
        else:
            raise ValueError(f"bad escape in {text!r}")
    return bytes(out)


_PAIR = re.compile(r' ([a-z0-9_]+)=(?:"((?:[^"\\]|\\.)*)"|([^ "]*))')


def parse_line(line):
    """{"kind", "action", key: raw bytes...} of one alert line; ValueError if it is not one."""
    line = line.rstrip("\n")
    if "\n" in line or "\r" in line:
        raise ValueError("more than one line")
    m = re.match(r"^(?:layerlockd: )?([a-z]+) drift ([a-z]+):", line)
    if not m:
        raise ValueError(f"not an alert line: {line!r}")
    record = {"kind": m.group(1).encode(), "action": m.group(2).encode()}
    pos = m.end()
    while pos < len(line):
        p = _PAIR.match(line, pos)
        if not p:
            raise ValueError(f"malformed field at {line[pos:pos + 40]!r}")
        key = p.group(1)
        if key in record:
            raise ValueError(f"field {key} twice")
        record[key] = unescape(p.group(2)) if p.group(2) is not None else p.group(3).encode()
        pos = p.end()
    return record


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "unescape":
        sys.stdout.buffer.write(unescape(sys.argv[2]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)

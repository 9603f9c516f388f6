#!/usr/bin/env python3
"""Unpack a ttar text archive (as used by prometheus/procfs test data) into a directory.

Usage: ttar_unpack.py ARCHIVE DESTDIR [--strip PREFIX]

The archive is a sequence of records, separated by lines starting with "#":

    Directory: <path>          a directory
    Mode: <octal>

    Path: <path>               a regular file with N lines of content
    Lines: <N>
    <N raw lines>
    Mode: <octal>

    Path: <path>               a symbolic link (written as is, not resolved)
    SymlinkTo: <target>

Inside file content the literal text NULLBYTE stands for a 0x00 byte, and a
last line ending in EOF means the file has no final newline. Content is
handled as bytes: the archive may hold bytes that are not valid UTF-8.

--strip PREFIX removes a leading path prefix (e.g. "fixtures/") from every
entry. Modes are applied as recorded, with the owner read (and, for
directories, write/search) bits added so the unpacked tree can be read and
removed again without root.
"""

import os
import sys


class TtarError(Exception):
    pass


def _value(line, key, lineno):
    prefix = key + b": "
    if not line.startswith(prefix):
        raise TtarError(f"line {lineno}: expected '{key.decode()}: ...', got {line[:60]!r}")
    return line[len(prefix):]


def _decode_content(lines):
    data = b"\n".join(lines)
    final_newline = True
    if lines and lines[-1].endswith(b"EOF"):
        data = data[: -len(b"EOF")]
        final_newline = False
    data = data.replace(b"NULLBYTE", b"\x00")
    if lines and final_newline:
        data += b"\n"
    return data


def unpack(archive, dest, strip=""):
    with open(archive, "rb") as fh:
        raw = fh.read()
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    strip_b = strip.encode()

    def target_path(name, lineno):
        if strip_b:
            if name.rstrip(b"/") + b"/" == strip_b:
                return None
            if not name.startswith(strip_b):
                raise TtarError(f"line {lineno}: {name!r} does not start with {strip!r}")
            name = name[len(strip_b):]
        rel = os.fsdecode(name)
        if rel.startswith("/") or ".." in rel.split("/"):
            raise TtarError(f"line {lineno}: unsafe path {rel!r}")
        return os.path.join(dest, rel)

    dir_modes = []
    counts = {"dirs": 0, "files": 0, "links": 0}
    os.makedirs(dest, exist_ok=True)
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i]
        if line.startswith(b"#") or line == b"":
            i += 1
            continue
        if line.startswith(b"Directory: "):
            name = _value(line, b"Directory", i + 1)
            mode = int(_value(lines[i + 1], b"Mode", i + 2), 8)
            path = target_path(name, i + 1)
            if path is not None:
                os.makedirs(path, exist_ok=True)
                dir_modes.append((path, mode))
                counts["dirs"] += 1
            i += 2
            continue
        if line.startswith(b"Path: "):
            name = _value(line, b"Path", i + 1)
            path = target_path(name, i + 1)
            if path is None:
                raise TtarError(f"line {i + 1}: file entry for the stripped prefix itself")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            nxt = lines[i + 1] if i + 1 < n else b""
            if nxt.startswith(b"SymlinkTo: "):
                target = _value(nxt, b"SymlinkTo", i + 2)
                if os.path.lexists(path):
                    os.unlink(path)
                os.symlink(os.fsdecode(target), path)
                counts["links"] += 1
                i += 2
                continue
            count = int(_value(nxt, b"Lines", i + 2))
            start = i + 2
            end = start + count
            if end >= n:
                raise TtarError(f"line {i + 1}: {count} content lines run past the end")
            data = _decode_content(lines[start:end])
            mode = int(_value(lines[end], b"Mode", end + 1), 8)
            with open(path, "wb") as out:
                out.write(data)
            os.chmod(path, mode | 0o400)
            counts["files"] += 1
            i = end + 1
            continue
        raise TtarError(f"line {i + 1}: unexpected {line[:60]!r}")

    # Directories last, deepest first, so read-only modes do not block writes.
    for path, mode in sorted(dir_modes, key=lambda pm: pm[0].count("/"), reverse=True):
        os.chmod(path, mode | 0o700)
    return counts


def main(argv):
    args = list(argv[1:])
    strip = ""
    if "--strip" in args:
        k = args.index("--strip")
        strip = args[k + 1]
        del args[k:k + 2]
    if len(args) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    try:
        counts = unpack(args[0], args[1], strip)
    except (TtarError, ValueError, IndexError, OSError) as exc:
        print(f"ttar_unpack: {args[0]}: {exc}", file=sys.stderr)
        return 1
    print(f"ttar_unpack: {counts['dirs']} directories, {counts['files']} files, "
          f"{counts['links']} symlinks -> {args[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

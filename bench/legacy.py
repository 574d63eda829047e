"""Reference loops written the way the legacy pipeline did it, for the benchmark's ratios.

Deliberately plain: text-mode ``gzip``, ``str.split``, dicts, every path decoded
where the legacy decoded it. No blocks, no regex over whole buffers, no isal, no
workers. Each loop prints a one-line JSON summary (used for cross-checks with the
real jobs) on stdout.

Usage: ``python bench/legacy.py {report,inspect,split} FILE --groups groups.json [-o DIR]``.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import re
import sys
from pathlib import Path
from typing import Any


def legacy_report(path: Path) -> dict[str, Any]:
    """Per gid: sum(size / nlink) and the newest mtime (the legacy group-usage loop)."""
    used: dict[str, float] = {}
    newest: dict[str, int] = {}
    lines = 0
    with gzip.open(path, "rt") as handle:
        for line in handle:
            lines += 1
            fields = line.split("\t")
            gid = fields[3]
            size = int(fields[1])
            mtime = int(fields[5])
            nlink = int(fields[9])
            if nlink > 0:
                used[gid] = used.get(gid, 0) + size / nlink
            elif gid not in used:
                used[gid] = 0
            if mtime > newest.get(gid, 0):
                newest[gid] = mtime
    return {"lines": lines, "groups": len(used), "used_bytes": round(sum(used.values()))}


def legacy_inspect(path: Path, roots: list[str], depth: int = 2) -> dict[str, Any]:
    """Decode every path, match the roots with a regex, sum per directory at the cut."""
    root_re = re.compile("^/(" + "|".join(roots) + ")(/|$)")
    classes = [
        ("BAM", re.compile(r"\.(bam|sam)(\.gz)?$")),
        ("CRAM", re.compile(r"\.cram(\.gz)?$")),
        ("VCF", re.compile(r"\.(vcf|bcf|gvcf)(\.gz)?$")),
        ("PEDBED", re.compile(r"\.(ped|bed)(\.gz)?$")),
    ]
    # short directory path -> [total, bam, cram, vcf, pedbed, files, newest mtime]
    rows: dict[str, list[float]] = {}
    lines = 0
    with gzip.open(path, "rt") as handle:
        for line in handle:
            lines += 1
            fields = line.split("\t")
            name = base64.b64decode(fields[0]).decode("utf-8", "replace")
            match = root_re.match(name)
            if not match:
                continue
            kind = fields[7]
            if kind != "f" and kind != "d":
                continue
            # The short path starts at the root's last component.
            root = match.group(1)
            short = name[len(root) - len(root.split("/")[-1]) + 1 :]
            parts = short.split("/")
            directory = parts[:-1] if kind == "f" else parts
            cut = depth + 1
            if depth >= 2 and len(directory) > 2 and directory[2].lower() == "users":
                cut += 1
            directory = directory[:cut]
            size = int(fields[1])
            nlink = int(fields[9])
            mtime = int(fields[5])
            share = size / nlink if nlink > 0 else 0
            for i in range(1, len(directory) + 1):
                key = "/".join(directory[:i])
                row = rows.get(key)
                if row is None:
                    row = rows[key] = [0, 0, 0, 0, 0, 0, 0]
                if kind == "f":
                    row[0] += share
                    for index, (_, pattern) in enumerate(classes):
                        if pattern.search(name):
                            row[1 + index] += share
                            break
                    row[5] += 1
                if mtime > row[6]:
                    row[6] = mtime
    return {"lines": lines, "rows": len(rows)}


def legacy_split(
    path: Path, groups: dict[str, Any], special: list[str], out: Path
) -> dict[str, Any]:
    """Decode every path, pick the group, append the line to that group's gzip file."""
    humgen = {gid for gid, g in groups.items() if g["humgen"] and g["name"]}
    names = {gid: g["name"] for gid, g in groups.items() if g["name"]}
    out.mkdir(parents=True, exist_ok=True)
    handles: dict[str, Any] = {}
    counts: dict[str, int] = {}
    lines = skipped = 0
    try:
        with gzip.open(path, "rt") as handle:
            for line in handle:
                lines += 1
                fields = line.split("\t")
                name = base64.b64decode(fields[0]).decode("utf-8", "replace")
                gid = fields[3]
                wanted = gid in humgen
                if not wanted and gid in names:
                    for prefix in special:
                        if name == prefix or name.startswith(prefix + "/"):
                            wanted = True
                            break
                if not wanted:
                    skipped += 1
                    continue
                group = names[gid]
                output = handles.get(group)
                if output is None:
                    output = handles[group] = gzip.open(out / f"{group}.dat.gz", "wt")
                output.write(line)
                counts[group] = counts.get(group, 0) + 1
    finally:
        for output in handles.values():
            output.close()
    with open(out / "index.txt", "w") as index:
        index.write("Group\tLines\n")
        for group in sorted(counts):
            index.write(f"{group}\t{counts[group]}\n")
    return {
        "lines": lines,
        "groups": len(counts),
        "written": sum(counts.values()),
        "skipped": skipped,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("job", choices=("report", "inspect", "split"))
    parser.add_argument("file", type=Path)
    parser.add_argument(
        "--groups", type=Path, required=True, help="groups.json from bench/generate.py"
    )
    parser.add_argument("-o", "--output", type=Path, help="split: output directory")
    args = parser.parse_args(argv)
    meta = json.loads(args.groups.read_text())
    if args.job == "report":
        summary = legacy_report(args.file)
    elif args.job == "inspect":
        summary = legacy_inspect(args.file, meta["roots"])
    else:
        if args.output is None:
            parser.error("split needs -o DIR")
        summary = legacy_split(args.file, meta["groups"], meta["special_prefixes"], args.output)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

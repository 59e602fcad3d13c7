#!/usr/bin/env python3
"""What a release binary is made of: the size of its code and data by crate, read from the symbol
table of an unstripped build of the same profile (`nm --print-size`; Rust symbols demangled, C
symbols of ring, aws-lc and the C library by their prefix). The deployed binary is stripped; these are
the same functions and tables, named.

    bench/binary-crates.py BINARY [BINARY ...] [--top N]
"""

from __future__ import annotations

import argparse
import re
import subprocess
from collections import Counter
from pathlib import Path

# A demangled Rust path's first segment, also inside `<T as Trait>` and `_<impl ...>`.
RUST_PATH = re.compile(r"(?:^|[<\s&*(])(?:dyn\s+)?([a-z_][a-z0-9_]*)::")
C_PREFIXES = [
    ("aws_lc_", "aws-lc-sys (C)"),
    ("ring_core_", "ring (C)"),
    ("GFp_", "ring (C)"),
]


def crate_of(symbol: str) -> str:
    for prefix, name in C_PREFIXES:
        if symbol.startswith(prefix):
            return name
    match = RUST_PATH.search(symbol)
    if match:
        return match.group(1).replace("_", "-")
    return "(C, runtime and unnamed)"


def sizes(binary: Path) -> Counter:
    out = subprocess.run(
        ["nm", "--print-size", "--size-sort", "--demangle=rust", str(binary)],
        check=True, capture_output=True, text=True,
    ).stdout
    totals: Counter = Counter()
    for line in out.splitlines():
        parts = line.split(" ", 3)
        if len(parts) < 4:
            continue
        _, size, kind, symbol = parts
        if kind.upper() not in ("T", "D", "R", "B"):
            continue
        totals[crate_of(symbol)] += int(size, 16)
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binaries", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    for binary in args.binaries:
        totals = sizes(binary)
        named = sum(totals.values())
        print(f"{binary.name}: {named / 1024:,.0f} KiB in named symbols; the largest crates:")
        for crate, size in totals.most_common(args.top):
            print(f"  {size / 1024:8,.0f} KiB {100 * size / named:5.1f}%  {crate}")
        print()


if __name__ == "__main__":
    main()

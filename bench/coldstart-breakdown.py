#!/usr/bin/env python3
"""Where a cold start's work goes, per function: one cold start of each (the coldstart harness,
the same event and fake endpoints) under valgrind's callgrind, which counts the instructions of
every function; then the phases, by the functions that do them. Counts, not seconds: the same for
the same binary and event whatever else the machine is doing.

    bench/coldstart-breakdown.py --bin-dir DIR [--harness PATH] [--root DIR]

DIR holds unstripped release binaries (bench/run-coldstart builds them into target/profiling).
The phases overlap where one runs inside another (the endpoint partitions and the signing are
part of the invocation when a client is built on first use); "total" is the whole process.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# (phase, pattern on a callgrind_annotate line's function, whether every match adds up)
PHASES = [
    ("process start: dynamic loading and relocation (ld.so)", r"^_dl_start$", False),
    ("aws-config: region, credentials, profile files", r"^aws_config::loader::ConfigLoader::load::\{\{closure\}\}$", False),
    ("SDK clients' endpoint partitions (JSON, one per service)", r"::endpoint_lib::partition::PartitionResolver::new_from_json$", True),
    ("HTTPS connector: rustls and Amazon's roots (once)", r"^aws_smithy_http_client::client::(Connector)?Builder<[a-z_:]*TlsProviderSelected>::build(_https)?(::\{\{closure\}\})?$", False),
    ("SigV4 signing (every request)", r"^<aws_runtime::auth::sigv4::SigV4Signer as .*>::sign_http_request$", False),
    ("the invocation: handler and its AWS calls", r"^lambda_runtime::runtime::(process_invocation|Runtime<S>::run)::\{\{closure\}\}$", False),
]
CASES = ["start-export", "poll-export IN_PROGRESS", "poll-export COMPLETED", "job-events", "write-manifest", "floor"]
# "count (share)  file:function [object]"; the object is missing where a function is inlined.
LINE = re.compile(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(?:.*?(?:\.rs|\.c|\.h|\?\?\?)):(.*?)(?: \[.*\])?$")


def profile(harness: Path, root: Path, bin_dir: Path, case: str, out: Path) -> Path:
    """One measured cold start of `case` under callgrind (the harness's warm-up run is dropped)."""
    subprocess.run(
        [str(harness), "--root", str(root), "--bin-dir", str(bin_dir), "--no-python", "--runs", "1",
         "--only", f"rust {case}",
         "--wrap", f"valgrind --tool=callgrind --callgrind-out-file={out}/cg.%p"],
        check=True, capture_output=True, text=True,
    )
    files = sorted(out.glob("cg.*"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise RuntimeError(f"callgrind wrote nothing for {case}")
    return files[-1]


def inclusive(callgrind_file: Path) -> tuple[int, dict[str, int]]:
    """The program's total and each function's inclusive instructions."""
    text = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", "--auto=no", str(callgrind_file)],
        check=True, capture_output=True, text=True,
    ).stdout
    total = 0
    functions: dict[str, int] = {}
    for line in text.splitlines():
        if line.strip().endswith("PROGRAM TOTALS"):
            total = int(line.split()[0].replace(",", ""))
            continue
        match = LINE.match(line)
        if match:
            count, function = int(match.group(1).replace(",", "")), match.group(2)
            functions[function] = max(functions.get(function, 0), count)
    return total, functions


def phases(functions: dict[str, int]) -> list[int]:
    found = []
    for _, pattern, adds_up in PHASES:
        counts = [n for name, n in functions.items() if re.search(pattern, name)]
        found.append(sum(counts) if adds_up else max(counts, default=0))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", type=Path, required=True)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--harness", type=Path)
    args = parser.parse_args()
    if not (shutil.which("valgrind") and shutil.which("callgrind_annotate")):
        print("coldstart-breakdown: valgrind is not installed; no breakdown", file=sys.stderr)
        return
    harness = args.harness or args.bin_dir / "coldstart"
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            out = Path(tmp) / case.replace(" ", "-")
            out.mkdir()
            rows[case] = inclusive(profile(harness, args.root, args.bin_dir, case, out))
    print("where a cold start goes: instructions (callgrind), thousands, and share of the process")
    names = {"poll-export IN_PROGRESS": "poll (waits)", "poll-export COMPLETED": "poll (ends)"}
    print(f"  {'phase':<58}" + "".join(f"{names.get(c, c):>18}" for c in CASES))
    print(f"  {'total':<58}" + "".join(f"{rows[c][0] / 1000:>18,.0f}" for c in CASES))
    found = {case: phases(functions) for case, (_, functions) in rows.items()}
    for i, (phase, _, _) in enumerate(PHASES):
        cells = []
        for case in CASES:
            total, n = rows[case][0], found[case][i]
            cells.append(f"{n / 1000:>11,.0f} {100 * n / total:>4.0f}%" if n else f"{'-':>18}")
        print(f"  {phase:<58}" + "".join(cells))
    print("  (-: not done by that process, or inlined into its caller and not separable in this build)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Where a cold start's time goes, per function: the kernel's part (exec, page faults by kind,
system calls) and the process's own (dynamic loading, the function's code, libc), from perf
sampling every CPU while the coldstart harness runs each Rust subject; then which pages each
process faults in, and who touches them first. Callgrind (coldstart-breakdown.py) counts only
user-space instructions; on this kind of machine most of a cold start is the kernel's.

    bench/coldstart-time.py --bin-dir DIR [--harness PATH] [--root DIR] [--runs N]

Needs `perf` allowed to sample the whole machine (root, or perf_event_paranoid <= 0); without
it, it says so and prints nothing else. Figures are per run, in milliseconds of CPU sampled
every 50 us: perf's own interrupts make them larger than the harness's CPU column, so compare
the rows and the subjects with each other, not with that column.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PERIOD_MS = 0.05  # -c 50000 on cpu-clock: one sample per 50 us of CPU
# comm (the kernel's 15-character name) -> (label, the harness's cases run by that binary)
SUBJECTS = {
    "start-export": ("start-export", 2),
    "poll-export": ("poll-export", 2),
    "job-events": ("job-events", 1),
    "write-manifest": ("write-manifest", 1),
    "coldstart-floor": ("floor", 1),
}
CATEGORIES = [
    "exec: the kernel maps the program",
    "dynamic loading and relocation (ld.so)",
    "page faults of the loader (relocation writes, libraries)",
    "page faults on files (code, read-only data)",
    "page faults, copy-on-write",
    "page faults, zero-filled (heap, stack, maps)",
    "network system calls (connect, send, receive)",
    "memory system calls (mmap, munmap, mprotect, brk)",
    "other system calls",
    "other kernel (interrupts, scheduling)",
    "the function's own code (Rust: runtime, SDK, handler)",
    "libc (malloc, memcpy, start-up)",
    "libgcc, libm, vdso",
    "exit, after the answer (not in exec -> response)",
]
NETWORK = ("tcp_", "inet_", "sock_", "ip_", "sys_connect", "sys_sendto", "sys_recvfrom")
MEMORY = ("mmap", "munmap", "mprotect", "sys_brk")


def classify(frames: list[tuple[str, str]]) -> str:
    """One sample's category from its call chain (leaf first: (symbol, object))."""
    symbols = [s for s, _ in frames]
    leaf_object = frames[0][1]
    if "kallsyms" not in leaf_object:
        if "ld-linux" in leaf_object:
            return "dynamic loading and relocation (ld.so)"
        if "libc.so" in leaf_object:
            return "libc (malloc, memcpy, start-up)"
        if any(lib in leaf_object for lib in ("libgcc", "libm.so", "vdso")):
            return "libgcc, libm, vdso"
        return "the function's own code (Rust: runtime, SDK, handler)"
    chain = " ".join(symbols)
    if any(s in chain for s in ("do_exit", "exit_mmap", "do_group_exit")):
        return "exit, after the answer (not in exec -> response)"
    if "exc_page_fault" in chain:
        # the first user-space frame says who touched the page
        user = next((o for s, o in frames if "kallsyms" not in o), "")
        if "ld-linux" in user:
            return "page faults of the loader (relocation writes, libraries)"
        if any(s in chain for s in ("do_cow_fault", "wp_page_copy", "do_wp_page")):
            return "page faults, copy-on-write"
        if "do_anonymous_page" in chain:
            return "page faults, zero-filled (heap, stack, maps)"
        return "page faults on files (code, read-only data)"
    if any(s in chain for s in ("execve", "bprm_", "load_elf_binary")):
        return "exec: the kernel maps the program"
    if "do_syscall_64" in chain:
        if any(n in s for s in symbols for n in NETWORK):
            return "network system calls (connect, send, receive)"
        if any(m in s for s in symbols for m in MEMORY):
            return "memory system calls (mmap, munmap, mprotect, brk)"
        return "other system calls"
    return "other kernel (interrupts, scheduling)"


def samples(perf_script: str):
    """(comm, frames) per sample of `perf script -F comm,ip,sym,dso` with call chains."""
    comm, frames = None, []
    for line in perf_script.splitlines():
        if not line.strip():
            if comm is not None and frames:
                yield comm, frames
            comm, frames = None, []
        elif not line.startswith("\t"):
            comm, frames = line.split()[0], []
        else:
            parts = line.strip().split(None, 1)
            rest = parts[1] if len(parts) > 1 else "? (?)"
            symbol, _, obj = rest.rpartition(" (")
            frames.append((symbol, obj.rstrip(")")))
    if comm is not None and frames:
        yield comm, frames


def perf_usable() -> bool:
    if not shutil.which("perf"):
        print("coldstart-time: perf is not installed; no time breakdown", file=sys.stderr)
        return False
    probe = subprocess.run(["perf", "record", "-a", "-e", "cpu-clock", "-o", "/dev/null", "--", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        print("coldstart-time: perf may not sample the whole machine here "
              f"({probe.stderr.strip().splitlines()[-1:]}); no time breakdown", file=sys.stderr)
        return False
    return True


def harness_command(args: argparse.Namespace, runs: int) -> list[str]:
    return [str(args.harness or args.bin_dir / "coldstart"), "--root", str(args.root), "--bin-dir",
            str(args.bin_dir), "--no-python", "--runs", str(runs), "--warm", "0", "--only", "rust"]


def time_breakdown(args: argparse.Namespace, tmp: Path) -> None:
    data = tmp / "cpu.data"
    subprocess.run(["perf", "record", "-q", "-a", "-g", "-e", "cpu-clock", "-c", "50000", "-o", str(data),
                    "--", *harness_command(args, args.runs)], check=True, capture_output=True)
    script = subprocess.run(["perf", "script", "-i", str(data), "-F", "comm,ip,sym,dso"],
                            check=True, capture_output=True, text=True).stdout
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for comm, frames in samples(script):
        if comm in SUBJECTS:
            counts[comm][classify(frames)] += 1
    order = [c for c in SUBJECTS if c != "coldstart-floor"] + ["coldstart-floor"]
    runs = args.runs + 1  # the harness's warm-up run is sampled too
    per_run = {c: {k: n * PERIOD_MS / (runs * SUBJECTS[c][1]) for k, n in counts[c].items()} for c in order}
    print(f"where a cold start's time goes: CPU ms per run (perf, sampled every 50 us, {args.runs} runs "
          "+ 1 warm-up per case; start-export and poll-export: the mean of their two cases)")
    print(f"  {'':<58}" + "".join(f"{SUBJECTS[c][0]:>16}" for c in order))
    for category in CATEGORIES:
        print(f"  {category:<58}" + "".join(f"{per_run[c].get(category, 0):>16.2f}" for c in order))
    before_answer = {c: sum(v for k, v in per_run[c].items() if not k.startswith("exit")) for c in order}
    floor = before_answer["coldstart-floor"] or float("nan")
    print(f"  {'total before the answer':<58}" + "".join(f"{before_answer[c]:>16.2f}" for c in order))
    print(f"  {'  of which the kernel':<58}" + "".join(
        f"{sum(v for k, v in per_run[c].items() if is_kernel(k)):>16.2f}" for c in order))
    print(f"  {'  ratio to the floor':<58}" + "".join(f"{before_answer[c] / floor:>15.2f}x" for c in order))


def is_kernel(category: str) -> bool:
    return not category.startswith(("dynamic loading", "the function's", "libc", "libgcc", "exit"))


FAULT = re.compile(r"^\s*(\S+)\s+(\d+)\s+([0-9a-f]+)\s+.*?\(([^)]*)\)\s+[0-9a-f]+\s+.*?\(([^)]*)\)\s*$")


def fault_breakdown(args: argparse.Namespace, tmp: Path) -> None:
    data = tmp / "faults.data"
    subprocess.run(["perf", "record", "-q", "-a", "-d", "-e", "page-faults", "-c", "1", "-o", str(data),
                    "--", *harness_command(args, 5)], check=True, capture_output=True)
    script = subprocess.run(["perf", "script", "-i", str(data), "-F", "comm,pid,addr,sym,dso,ip"],
                            check=True, capture_output=True, text=True).stdout
    per_pid: dict[tuple[str, str], collections.Counter] = collections.defaultdict(collections.Counter)
    for line in script.splitlines():
        match = FAULT.match(line)
        if not match or match.group(1) not in SUBJECTS:
            continue
        comm, pid, _, where, who = match.groups()
        per_pid[(comm, pid)][fault_row(comm, where.rsplit("/", 1)[-1], who.rsplit("/", 1)[-1])] += 1
    rows = ["the program's image, by the loader (relocations)", "the program's image, by its code",
            "heap", "stack", "anonymous maps (libraries' data, TLS, large allocations)", "shared libraries", "other"]
    order = [c for c in SUBJECTS if c != "coldstart-floor"] + ["coldstart-floor"]
    print("which pages a cold start faults in, and who touches them first: minor faults per run "
          "(perf page-faults, 5 runs per case, median)")
    print(f"  {'':<58}" + "".join(f"{SUBJECTS[c][0]:>16}" for c in order))
    for row in rows + ["total"]:
        cells = []
        for comm in order:
            runs = [counter for (c, _), counter in per_pid.items() if c == comm]
            values = [sum(r.values()) if row == "total" else r.get(row, 0) for r in runs]
            cells.append(f"{statistics.median(values):>16.0f}" if values else f"{'-':>16}")
        print(f"  {row:<58}" + "".join(cells))


def fault_row(comm: str, where: str, who: str) -> str:
    if where.startswith(comm):
        return ("the program's image, by the loader (relocations)" if "ld-linux" in who
                else "the program's image, by its code")
    if where == "[heap]":
        return "heap"
    if where == "[stack]":
        return "stack"
    if where in ("anon", "[unknown]", ""):
        return "anonymous maps (libraries' data, TLS, large allocations)"
    if ".so" in where:
        return "shared libraries"
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", type=Path, required=True)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--harness", type=Path)
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args()
    args.bin_dir = args.bin_dir.resolve()
    args.root = args.root.resolve()
    if not perf_usable():
        return
    with tempfile.TemporaryDirectory() as tmp:
        time_breakdown(args, Path(tmp))
        print()
        fault_breakdown(args, Path(tmp))


if __name__ == "__main__":
    main()

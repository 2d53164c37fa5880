"""Peak memory of the demo's whole run (README command 1's job) at one or more git revisions.

Usage (from the repository root)::

    python benchmarks/demo_memory.py --out=/tmp/demo_memory --rev=fc18737^ --rev=HEAD \
        --arg=--config.generator.lambda_ids=100

Each revision is exported with ``git archive`` into ``<out>/src-<sha>`` and its demo runs there,
one revision after the other, in a fresh workdir (``<out>/work-<sha>``): ``launch/reproduce.py
--config=configs/demo.py`` (``--config`` to change), a child process whose memory is sampled every
0.5 s: ``peak_rss_mb``, the largest ``VmHWM`` (the kernel's own high-water mark) of any process in
its tree (the pipeline runs in the one process), and ``peak_tree_rss_sampled_mb``, the largest
summed RSS of the live tree (what several processes at once would hold together); ``ru_maxrss_mb``
from ``os.wait4`` is kept for reference (it includes the forking parent's mark). Prints one JSON summary (also ``<out>/demo_memory.json``): per revision the commit, exit
status, wall seconds, both peaks in MB, and whether its ``results.json`` equals the first
revision's ICC, MAE, intervals and fidelity (the same science: a memory comparison between runs that computed different things
would mean little).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.sysconf("SC_PAGE_SIZE")
SCIENCE_KEYS = ("icc", "mae", "by_pose", "ci95", "fidelity")


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def tree_rss_bytes(pid: int) -> tuple[int, int]:
    """``(summed resident set, largest VmHWM)`` of ``pid`` and all its descendants, in bytes
    (processes that are gone count 0)."""
    total, hwm, stack = 0, 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            total += int(fields["VmRSS"].split()[0]) * 1024
            hwm = max(hwm, int(fields["VmHWM"].split()[0]) * 1024)
        except (OSError, ValueError, KeyError, IndexError):
            continue
        stack.extend(_children(p))
    return total, hwm


def science(results: dict, workdir: str) -> dict:
    """The numbers of a demo's results.json: its ICC / MAE / interval / fidelity sections with
    timings (``seconds``) dropped and paths made relative to the workdir without stage hashes,
    which differ between any two runs or revisions."""
    def clean(x):
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items() if k != "seconds"}
        if isinstance(x, list):
            return [clean(v) for v in x]
        if isinstance(x, str) and x.startswith(workdir):
            # Stage directories are named by a hash of their config: a new config field renames them.
            return re.sub(r"-[0-9a-f]{12}\b", "", os.path.relpath(x, workdir))
        return x
    return {k: clean(v) for k, v in results.items() if k in SCIENCE_KEYS}


def measure_command(cmd: list[str], cwd: str | None = None, env: dict | None = None,
                    log_path: str | None = None, interval: float = 0.5) -> dict:
    """Runs ``cmd`` to completion: exit status, wall seconds and its peak memory (both readings)."""
    log = open(log_path, "w") if log_path else subprocess.DEVNULL
    try:
        t = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        peak = [0, 0]
        done = threading.Event()

        def sample():
            while not done.is_set():
                total, hwm = tree_rss_bytes(proc.pid)
                peak[0], peak[1] = max(peak[0], total), max(peak[1], hwm)
                done.wait(interval)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        # wait4 instead of proc.wait(): the rusage of this child and its reaped descendants (ru_maxrss:
        # the largest one, in KiB on Linux). Linux carries the forking process's high-water mark
        # over exec into it, so it reads high under a large parent (a pytest worker): the sampled
        # VmHWM is the child's own.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        sampler.join()
        return {"rc": proc.returncode, "wall_s": round(time.monotonic() - t, 1),
                "peak_rss_mb": round(peak[1] / 2 ** 20, 1),
                "ru_maxrss_mb": round(usage.ru_maxrss / 1024, 1),
                "peak_tree_rss_sampled_mb": round(peak[0] / 2 ** 20, 1)}
    finally:
        if log_path:
            log.close()


def export_revision(rev: str, out: str) -> tuple[str, str]:
    """``(sha, directory)``: ``rev``'s tree exported into ``out/src-<sha>`` (reused if present)."""
    sha = subprocess.run(["git", "-C", REPO, "rev-parse", "--short=12", rev], check=True,
                         capture_output=True, text=True).stdout.strip()
    src = os.path.join(out, f"src-{sha}")
    if not os.path.isdir(src):
        tmp = src + ".tmp"
        os.makedirs(tmp, exist_ok=True)
        archive = subprocess.Popen(["git", "-C", REPO, "archive", sha], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", tmp], stdin=archive.stdout, check=True)
        if archive.wait() != 0:
            raise SystemExit(f"demo_memory: git archive {rev} failed")
        os.replace(tmp, src)
    return sha, src


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--rev", action="append", default=None, help="git revision (repeatable; default HEAD)")
    p.add_argument("--config", default="configs/demo.py")
    p.add_argument("--arg", action="append", default=[],
                   help="extra reproduce.py argument for every revision (repeatable), e.g. "
                   "--arg=--config.generator.lambda_ids=100 to give an older revision a newer default")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    out = os.path.abspath(args.out)
    runs, first_results = [], None
    for rev in args.rev or ["HEAD"]:
        sha, src = export_revision(rev, out)
        work = os.path.join(out, f"work-{sha}")
        env = dict(os.environ, PYTHONPATH=src)
        cmd = [sys.executable, os.path.join(src, "launch", "reproduce.py"), f"--config={args.config}",
               f"--workdir={work}", *args.arg]
        print(f"demo_memory: {rev} ({sha}): {' '.join(cmd)}", file=sys.stderr, flush=True)
        run = {"rev": rev, "sha": sha, **measure_command(cmd, cwd=src, env=env,
                                                         log_path=os.path.join(out, f"log-{sha}.txt"))}
        try:
            with open(os.path.join(work, "results.json")) as f:
                results = science(json.load(f), work)
            if first_results is None:
                first_results = results
            run["same_results_as_first"] = results == first_results
        except (OSError, ValueError):
            run["same_results_as_first"] = None
        runs.append(run)
        with open(os.path.join(out, "demo_memory.json"), "w") as f:
            json.dump({"config": args.config, "args": args.arg, "runs": runs}, f, indent=1)
        print(json.dumps(run), flush=True)
    return 0 if all(r["rc"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Runs a paper experiment (or the demo main job) as a chain of cached stages.

    python launch/reproduce.py --config=configs/demo.py --workdir=workdir/demo
    python launch/reproduce.py --config=configs/paper/table2.py:cpu --workdir=runs/paper \
        [--stages=synthetic_3d] [--config.data.name=fera2017 --config.data.manual_dir=/data/FERA17]

Finished stages (same config and inputs) are reused from ``<workdir>/stages``; experiments that share
a workdir share every stage they have in common (content hashes of config + inputs), so running
several paper experiments under one workdir trains registration and generators once. An interrupted
stage resumes from its checkpoints. Stages whose code is not built yet are listed as such, not faked.

Multi-host (``--coordinator_address=HOST:PORT --num_processes=P --process_id=I`` on every host, one
shared workdir): trainers split each batch, the offline stages their chunks (`jaxau.hosts`), and
process 0 writes the stage records and the report.
"""

import logging
import os

from absl import flags

from jaxau import cli

_STAGES = flags.DEFINE_list("stages", None, "Run only these (and what they need): stage names (e.g. "
                            "registration), experiment column ids, or stage directory names.")


def main(config, workdir):
    from jaxau import hosts, io_utils
    from jaxau.stages import runner as pipeline
    from jaxau.report import experiment as report
    from jaxau.stages import STAGES, graph

    planned = graph.plan(config, STAGES)
    only = None
    if _STAGES.value:
        only = planned.targets(_STAGES.value)
    results = pipeline.run_graph(planned.nodes, workdir, only=only)
    if not hosts.active().leader:  # Multi-host: process 0 writes the summary and the report.
        return 1 if any(r.status == "failed" for r in results) else 0
    io_utils.write_json(os.path.join(workdir, "pipeline.json"),
                        [dict(name=r.name, stage=r.stage, status=r.status, directory=r.directory, seconds=r.seconds,
                              summary=dict(r.summary), message=r.message) for r in results])
    logging.info("pipeline summary written to %s", os.path.join(workdir, "pipeline.json"))
    print("\n" + pipeline.format_results(results), flush=True)
    summary = report.write_report(workdir, config, results, planned)
    if summary.get("icc"):
        print("\n" + icc_table(summary), flush=True)
    not_built = [r.name for r in results if r.status == "not built"]
    if not_built:
        print(f"Not built yet: {', '.join(not_built)} (see BUILD_NOTES.md for the plan).", flush=True)
    print(f"\nReport: {os.path.join(workdir, 'reports', str(config.get('name')), 'report.md')} and report.html "
          f"(latest run's copy: {os.path.join(workdir, 'report.md')}); every log line: "
          f"{os.path.join(workdir, 'logs', cli.launcher_name() + '.log')}", flush=True)
    return 1 if any(r.status == "failed" for r in results) else 0


def icc_table(summary: dict) -> str:
    """The report's ICC(3,1) per column as plain text: per AU, the mean and its 95 % interval.

    Args:
      summary: `jaxau.report.experiment.write_report`'s result (``icc``: {column: {AU or 'mean': ICC}},
        optional ``ci95``: {column: {'mean': (low, high)}}).
    """
    def number(value: float) -> str:
        return f"{round(float(value), 3) + 0.0:>6.3f}"  # + 0.0: never "-0.000"

    icc = summary["icc"]
    aus = [a for a in next(iter(icc.values())) if a != "mean"]
    for per in icc.values():
        aus += [a for a in per if a != "mean" and a not in aus]
    width = max(len("column"), *(len(c) for c in icc))
    lines = ["ICC(3,1) on the test frames (higher is better; the report has per-pose ICC and verdicts):",
             f"{'column':<{width}}  " + "  ".join(f"{a:>6}" for a in aus) + f"  {'mean':>6}  95% interval"]
    for column, per in icc.items():
        ci = summary.get("ci95", {}).get(column, {}).get("mean")
        interval = f"[{number(ci[0]).strip()}, {number(ci[1]).strip()}]" if ci is not None and len(ci) == 2 else ""
        cells = "  ".join(number(per[a]) if a in per else f"{'-':>6}" for a in aus)
        lines.append(f"{column:<{width}}  {cells}  {number(per.get('mean', float('nan')))}  {interval}".rstrip())
    return "\n".join(lines)


def run() -> None:
    """Console-script entry point: parses the flags and runs `main`."""
    cli.run(main)


if __name__ == "__main__":
    run()

"""Runs a paper experiment (or the demo main job) as a chain of cached stages.

    python launch/reproduce.py --config=configs/demo.py --workdir=workdir/demo
    python launch/reproduce.py --config=configs/paper/table2.py:cpu --workdir=runs/paper \
        [--stages=synthetic_3d] [--config.data.name=fera2017 --config.data.manual_dir=/data/FERA17]

Finished stages (same config and inputs) are reused from ``<workdir>/stages``; experiments that share
a workdir share every stage they have in common (content hashes of config + inputs), so running
several paper experiments under one workdir trains registration and generators once. An interrupted
stage resumes from its checkpoints. Stages whose code is not built yet are listed as such, not faked.
"""

import logging
import os
import sys

from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxau import cli  # noqa: E402

_STAGES = flags.DEFINE_list("stages", None, "Run only these (and what they need): stage names (e.g. "
                            "registration), experiment column ids, or stage directory names.")


def main(config, workdir):
    from jaxau import io_utils
    from jaxau.stages import runner as pipeline
    from jaxau.report import experiment as report
    from jaxau.stages import STAGES, graph

    planned = graph.plan(config, STAGES)
    only = None
    if _STAGES.value:
        only = [planned.outputs.get(s, s) for s in _STAGES.value]
    results = pipeline.run_graph(planned.nodes, workdir, only=only)
    table = pipeline.format_results(results)
    print(table, flush=True)
    io_utils.write_json(os.path.join(workdir, "pipeline.json"),
                        [dict(name=r.name, stage=r.stage, status=r.status, directory=r.directory, seconds=r.seconds,
                              summary=dict(r.summary), message=r.message) for r in results])
    report.write_report(workdir, config, results, planned)
    print(f"Report: {os.path.join(workdir, 'reports', str(config.get('name')), 'report.md')} and report.html "
          f"(latest run's copy: {os.path.join(workdir, 'report.md')})", flush=True)
    not_built = [r.name for r in results if r.status == "not built"]
    if not_built:
        print(f"Not built yet: {', '.join(not_built)} (see BUILD_NOTES.md for the plan).", flush=True)
    logging.info("pipeline summary written to %s", os.path.join(workdir, "pipeline.json"))
    return 1 if any(r.status == "failed" for r in results) else 0


if __name__ == "__main__":
    cli.run(main)

"""Contact sheet of a registration model on a dataset split: inputs at every pose with predicted
landmarks, the 2-D aligned and the 3-D frontalized outputs side by side.

    python launch/preview_registration.py --config=configs/registration/synthfacs.py --workdir=runs/reg \
        [--config.model_dir=runs/reg]

Writes ``<workdir>/preview_registration_sheet.png`` (rows: input + landmarks, 2-D, 3-D; one column
per pose of the test split).
"""

import os

from jaxau import cli


def main(config, workdir):
    from jaxau.data import resolve
    from jaxau.stages import register

    resolve.check(config)
    model_dir = config.model_dir or workdir
    directory = resolve.data_dir(config, workdir)
    resolve.ensure_built(config.data.name, directory, config.data.get("manual_dir") or None)
    path = register.write_sheet(config, directory, os.path.join(workdir, "preview_registration_sheet.png"),
                                model_dir)
    print(path, flush=True)
    return 0


def run() -> None:
    """Console-script entry point: parses the flags and runs `main`."""
    cli.run(main)


if __name__ == "__main__":
    run()

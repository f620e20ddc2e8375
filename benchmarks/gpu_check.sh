#!/usr/bin/env bash
# The GPU checks, in one call of the device tool (a bare machine with a GPU and no network):
# install what its image lacks from carried files, run the CUDA tests, then the GPU benchmark
# (sweeps with fractional GPUs, fastnet's time to accuracy on real CIFAR-10; with STREAM=1 instead
# the stream-vs-memory throughput of benchmarks/streaming.py on real CIFAR-10 on the GPU and
# benchmarks/encoded_shards.py; with RUNGS=1 instead issue 36's GPU checks: the probe's CUDA test,
# airbench94 beside cifar10.yaml at airbench's values on all 50,000 training images (and nagexp at
# 12 epochs: what two more epochs add), then rank_fidelity's cifar10 task on all 50,000 images;
# with RECIPE_SWEEP=1 instead issue 36's item 5(a) on the GPU: `nagexp sweep cifar10.yaml` on
# airbench_side_by_side's reduced task (10,000 training JPEGs) with airbench's values enqueued,
# 10 trials, the default rung signal; its best and the centre retrained on 3 seeds beside airbench94;
# SKIP_TESTS=1 skips the CUDA tests).
#
# Carried folder .gpu/ (git-ignored; 55 MB, under the 64 MiB a call may carry), built by
# benchmarks/gpu_pack.sh:
#   .gpu/wheels/*.whl         optuna, pydantic, SQLAlchemy, alembic, ... for CPython 3.12
#   .gpu/ray-site.tar.xz      Ray 2.60 unpacked for CPython 3.12 without ray/jars, rllib, serve,
#                             llm and the dashboard's web client: 29 MB (the wheel is 79 MB)
#   .gpu/cifar10-jpeg.tar.gz  CIFAR-10 as JPEG q75, ImageFolder layout: 19 MB
#   .gpu/airbench94.py        KellerJordan/cifar10-airbench's legacy/airbench94.py (RUNGS=1 only;
#                             its code never enters the project)
# Results: $OUT/ (gpu.txt, pytest_gpu.txt, bench.txt, gpu_trainer.json or streaming.json + encoded_shards.json).
#
#   run(command="bash benchmarks/gpu_check.sh", carry=[".gpu"], timeout_s=600)
# CPU dry run here (the CUDA tests and measurements skip with one line each):
#   DRY_RUN=1 bash benchmarks/gpu_check.sh
set -uo pipefail
OUT=${OUT:-/tmp/nagexp-gpu-out}
mkdir -p "$OUT"
T0=$(date +%s)
say() { echo "[$(( $(date +%s) - T0 ))s] $*"; }

if [ -z "${DRY_RUN:-}" ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
  SITE=/tmp/nagexp-site
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" .gpu/wheels/*.whl \
    || { say "installing the wheels failed"; exit 1; }
  python3 -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" .gpu/ray-site.tar.xz "$SITE" \
    || { say "unpacking Ray failed"; exit 1; }
  export PYTHONPATH="$SITE:$PWD"
  PY=python3
  DATA=/tmp/nagexp-data
  mkdir -p "$DATA" && tar -xzf .gpu/cifar10-jpeg.tar.gz -C "$DATA"
  say "installed; python $($PY -c 'import sys, torch, ray; print(sys.version.split()[0], torch.__version__, ray.__version__)')"
else
  PY=${PY:-.venv/bin/python}
  DATA=tests/data/cifar10-slice
fi
export PYTHONUNBUFFERED=1
# deterministic cuBLAS for the CUDA tests (one compares two runs bit for bit; read at cuBLAS's
# first use), not for the timed benchmarks
CUBLAS=:4096:8

if [ -n "${RECIPE_SWEEP:-}" ]; then
  W=/tmp/nagexp-recipe; rm -rf "$W"; mkdir -p "$W"
  TRAIN=${RECIPE_TRAIN:-10000}
  $PY -c "import sys; from pathlib import Path; from benchmarks.common import task_folder
task_folder(Path(sys.argv[1]).resolve(), int(sys.argv[2]), Path(sys.argv[3]))" "$DATA" "$TRAIN" "$W"
  printf 'lr: 1.5\nmomentum: 0.85\nweight_decay: 0.00133\nwarmup_fraction: 0.23\nlabel_smoothing: 0.2\nnorm_bias_lr_scale: 64.0\n' \
    > "$W/centre.yaml"
  say "nagexp sweep cifar10.yaml, $TRAIN training JPEGs, airbench's values enqueued"
  timeout ${SWEEP_TIMEOUT:-150} $PY -m nagexp sweep search_spaces/cifar10.yaml --dataset "imagefolder:$W/task" \
    --trials ${RECIPE_TRIALS:-10} ${RECIPE_EPOCHS:+--epochs $RECIPE_EPOCHS} --seed 0 --enqueue "$W/centre.yaml" \
    --no-track --name cifar-s0 --results-dir "$W/results" 2>&1 | tee "$OUT/sweep.log"
  for f in trials.csv best.yaml summary.json; do cp "$W/results/cifar-s0/$f" "$OUT/"; done
  say "the searched best retrained, 3 seeds"
  timeout 90 $PY -m benchmarks.airbench_side_by_side --config "$W/results/cifar-s0/best.yaml" --only nagexp \
    --data "$DATA" --train "$TRAIN" --seeds 3 ${RECIPE_EPOCHS:+--epochs $RECIPE_EPOCHS} \
    --out "$OUT/airbench_side_by_side_searched-h200.json" 2>&1 | tee -a "$OUT/sweep.log"
  say "the centre and airbench94, 3 seeds"
  timeout 90 $PY -m benchmarks.airbench_side_by_side --airbench "${AIRBENCH:-.gpu/airbench94.py}" --data "$DATA" \
    --train "$TRAIN" --seeds 3 ${RECIPE_EPOCHS:+--epochs $RECIPE_EPOCHS} ${RECIPE_ONLY:+--only $RECIPE_ONLY} \
    --out "$OUT/airbench_side_by_side-reduced-h200.json" 2>&1 | tee -a "$OUT/sweep.log"
  say "done"; exit 0
fi

if [ -n "${RUNGS:-}" ]; then
  say "CUDA test: the cooldown probe leaves a run bit-identical"
  CUBLAS_WORKSPACE_CONFIG=$CUBLAS timeout 120 $PY -m pytest -m gpu -q -p no:cacheprovider -rs \
    tests/training_tests/test_gpu.py -k cooldown_probe 2>&1 | tee "$OUT/pytest_gpu.txt"
  TRAIN=${RUNGS_TRAIN:-50000}
  AIRBENCH=${AIRBENCH:-.gpu/airbench94.py}
  say "airbench94 beside cifar10.yaml at airbench's values, $TRAIN training images, 10 epochs"
  timeout ${AB_TIMEOUT:-150} $PY -m benchmarks.airbench_side_by_side --airbench "$AIRBENCH" --data "$DATA" \
    --train "$TRAIN" --seeds ${AB_SEEDS:-3} --out "$OUT/airbench_side_by_side-h200.json" 2>&1 | tee "$OUT/bench.txt"
  for e in ${NAGEXP_EPOCHS:-12}; do
    say "cifar10.yaml at airbench's values, $e epochs"
    timeout ${AB_TIMEOUT:-150} $PY -m benchmarks.airbench_side_by_side --only nagexp --data "$DATA" --train "$TRAIN" \
      --epochs "$e" --seeds ${AB_SEEDS:-3} --out "$OUT/nagexp_epochs$e-h200.json" 2>&1 | tee -a "$OUT/bench.txt"
  done
  say "rank_fidelity, cifar10.yaml, $TRAIN training images"
  timeout ${RF_TIMEOUT:-300} $PY -m benchmarks.rank_fidelity --task cifar10 --data "$DATA" --train "$TRAIN" \
    --configs ${RF_CONFIGS:-16} --draws ${RF_DRAWS:-2} --out "$OUT/rank_fidelity-cifar10-full-h200.json" 2>&1 \
    | tee "$OUT/rank_fidelity.txt"
  say "done"; exit 0
fi

if [ -z "${SKIP_TESTS:-}" ]; then
say "CUDA tests (pytest -m gpu)"
# the trainer's CUDA path, its data-parallel seam with NCCL (as many workers as GPUs; no Ray
# needed), and streamed / population sweeps on fractional GPUs (Ray)
CUBLAS_WORKSPACE_CONFIG=$CUBLAS timeout 300 $PY -m pytest -m gpu -q -p no:cacheprovider -rs tests/training_tests/test_gpu.py \
  tests/training_tests/test_distributed.py tests/sweeps_tests/test_gpu_sweeps.py 2>&1 | tee "$OUT/pytest_gpu.txt"
fi
[ -n "${SKIP_BENCH:-}" ] && { say "done (benchmark skipped)"; exit 0; }
if [ -n "${STREAM:-}" ]; then
  say "benchmark: stream vs memory on the GPU"
  timeout ${BENCH_TIMEOUT:-240} $PY -m benchmarks.streaming --sizes --cifar "$DATA" --device cuda --batch-size 512 \
    --epochs 3 --ray-cpus "$(nproc)" --no-pil 2>&1 | tee "$OUT/bench.txt"
  cp benchmarks/results/streaming.json "$OUT/" 2>/dev/null
  say "benchmark: encoded vs pixel shards on the GPU"
  timeout ${BENCH_TIMEOUT:-240} $PY -m benchmarks.encoded_shards --data "$DATA" --size 128 --limit 20000 \
    --epochs 3 --device cuda --ray-cpus "$(nproc)" 2>&1 | tee -a "$OUT/bench.txt"
  cp benchmarks/results/encoded_shards.json "$OUT/" 2>/dev/null
  say "done"; exit 0
fi
say "benchmark"
timeout ${BENCH_TIMEOUT:-420} $PY -m benchmarks.gpu_trainer --data "$DATA" --out "$OUT/gpu_trainer.json" 2>&1 | tee "$OUT/bench.txt"
say "done"

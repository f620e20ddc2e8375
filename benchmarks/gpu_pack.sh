#!/usr/bin/env bash
# Build .gpu/ (git-ignored) for benchmarks/gpu_check.sh: what the GPU machine's image lacks,
# for its CPython 3.12, and the CIFAR-10 JPEG tarball. Run here (needs the package index);
# takes about a minute.   bash benchmarks/gpu_pack.sh [PATH/TO/cifar10-jpeg.tar.gz] [AIRBENCH_GIT_DIR]
# (the second: a fetched KellerJordan/cifar10-airbench git folder, for gpu_check.sh's RUNGS=1)
set -euo pipefail
cd "$(dirname "$0")/.."
CIFAR=${1:-../shared/data/cifar10-jpeg.tar.gz}
PIP=${PIP:-.venv/bin/pip}
rm -rf .gpu && mkdir -p .gpu/wheels
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
# the versions this project is tested with (pip list of .venv)
pkgs=(ray==2.60.0 optuna==5.0.0 pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0
      typing-inspection==0.4.5 alembic==1.20.1 SQLAlchemy==2.1.9 Mako==1.4.3 colorlog==6.12.0
      jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1
      typing_extensions==4.16.0)
"$PIP" download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${platforms[@]}" \
  -d .gpu/wheels "${pkgs[@]}"
# Ray's wheel (79 MB) is over what one call carries: unpack it and drop what sweeps never import
site=$(mktemp -d)
(cd "$site" && unzip -q "$OLDPWD"/.gpu/wheels/ray-*.whl)
rm -rf "$site"/ray/jars "$site"/ray/rllib "$site"/ray/serve "$site"/ray/llm "$site"/ray/dashboard/client/build
find "$site"/ray/dashboard -name "*.js.map" -delete
tar -C "$site" -cf - ray ray-2.60.0.dist-info | xz -T0 -6 > .gpu/ray-site.tar.xz
rm -rf "$site" .gpu/wheels/ray-*.whl
cp "$CIFAR" .gpu/cifar10-jpeg.tar.gz
if [ -n "${2:-}" ]; then
  git --git-dir "$2" show HEAD:legacy/airbench94.py > .gpu/airbench94.py
fi
du -sh .gpu

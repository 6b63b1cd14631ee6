#!/usr/bin/env bash
# The GPU checks of issue 13 (nc-cuda) as one prepared run on a lent GPU machine, which is
# bare, offline and has its own torch (CUDA build): constriction travels as a wheel in .whl/
# (see /work/.library/device/README.md), nc installs from the working tree without its deps.
#
#   run(command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=560)
#
# Prints (and writes to $OUT): the machine; the CUDA tests of nc-cuda and the exact path
# (GPU-written files decode on the CPU and the reverse, with the same bytes; the conformance
# suite with the lanes on the GPU); benchmarks/gpu_coding.py on CPU and CUDA.
set -uo pipefail
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site || exit 1
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . -e plugins/nc-ans -e plugins/nc-hyperprior \
  -e plugins/nc-cuda 2>&1 | tail -3
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/machine.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0))" \
  2>&1 | tee -a "$OUT/machine.txt"
timeout 150 python3 -m pytest -q -p no:cacheprovider -c plugins/nc-cuda/pyproject.toml \
  plugins/nc-cuda/tests/test_lane_coder.py plugins/nc-cuda/tests/test_in_codecs.py tests/test_exact.py 2>&1 | tee "$OUT/tests.txt"
timeout 150 python3 -m pytest -q -p no:cacheprovider -c plugins/nc-cuda/pyproject.toml \
  plugins/nc-cuda/tests/test_conformance.py -k OnCuda 2>&1 | tee "$OUT/conformance-cuda.txt"
timeout 200 python3 benchmarks/gpu_coding.py --sizes 1000000 16000000 --lanes 4096 65536 262144 --repeats 2 \
  --json "$OUT/gpu_coding.json" 2>&1 | tee "$OUT/gpu_coding.txt"

#!/usr/bin/env bash
# The GPU checks of issue 13 (nc-cuda) as one prepared run on a lent GPU machine, which is
# bare, offline and has its own torch (CUDA build): constriction travels as a wheel in .whl/
# (see /work/.library/device/README.md), nc installs from the working tree without its deps.
# A trained model and one Kodak image travel in .gpu/ (both ignored by git):
#   mkdir -p .gpu/hyperprior && cp RUN/{model.pt,model.json,pipeline.yaml} .gpu/hyperprior/ \
#     && cp ../shared/data/kodak/kodim01.png .gpu/
#
#   run(command="bash benchmarks/gpu_check.sh", carry=[".whl", ".gpu"], timeout_s=580)
#
# Prints (and writes to $OUT): the machine; the CUDA tests of nc-cuda and the exact path
# (GPU-written files decode on the CPU and the reverse, with the same bytes; codecs on the GPU
# write the CPU's files; the conformance suite with the lanes on the GPU); nc compress /
# decompress --device cuda against --device cpu; the 4K end-to-end comparison
# (benchmarks/hyperprior_speed.py); benchmarks/gpu_coding.py on CPU and CUDA.
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
  plugins/nc-cuda/tests/test_lane_coder.py plugins/nc-cuda/tests/test_in_codecs.py plugins/nc-cuda/tests/test_devices.py \
  tests/test_exact.py 2>&1 | tee "$OUT/tests.txt"
timeout 90 python3 -m pytest -q -p no:cacheprovider -c plugins/nc-cuda/pyproject.toml \
  plugins/nc-cuda/tests/test_conformance.py -k OnCuda 2>&1 | tee "$OUT/conformance-cuda.txt"
(  # files across devices through the command line
  set -x
  M=".gpu/hyperprior"
  timeout 60 nc compress --model $M .gpu/kodim01.png -o "$OUT/gpu.nc" --device cuda
  timeout 60 nc compress --model $M .gpu/kodim01.png -o "$OUT/cpu.nc" --device cpu
  cmp "$OUT/gpu.nc" "$OUT/cpu.nc" && echo "SAME FILE from cuda and cpu"
  timeout 60 nc decompress "$OUT/gpu.nc" -o /tmp/gpu-on-cpu.png --model $M --device cpu
  timeout 60 nc decompress "$OUT/cpu.nc" -o /tmp/cpu-on-gpu.png --model $M --device cuda
  python3 -c "import numpy as np; from PIL import Image; a, b = (np.asarray(Image.open(p), dtype=int) for p in
    ('/tmp/gpu-on-cpu.png', '/tmp/cpu-on-gpu.png')); print('pixels: max |cpu - gpu|', abs(a - b).max(), 'differing', (a != b).mean())"
) 2>&1 | tee "$OUT/cli.txt"
timeout 150 python3 benchmarks/hyperprior_speed.py .gpu/hyperprior --image .gpu/kodim01.png --size 3840x2160 \
  --devices cpu cuda --repeats 2 --json "$OUT/hyperprior_speed_4k.json" 2>&1 | tee "$OUT/hyperprior_speed_4k.txt"
timeout 120 python3 benchmarks/gpu_coding.py --sizes 1000000 16000000 --lanes 65536 262144 --repeats 2 \
  --json "$OUT/gpu_coding.json" 2>&1 | tee "$OUT/gpu_coding.txt"

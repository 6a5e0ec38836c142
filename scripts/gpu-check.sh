#!/usr/bin/env bash
# On a machine with a real GPU (the `gpu` kernel target has never run on one in CI): the WGSL
# conformance tests on both kernel targets, `npm run bench`, and a few training steps of the
# study's model at batch 8, then one summary. Runs in a few minutes; never needed by the tests.
#
#   bash scripts/gpu-check.sh                 # after `npm ci`
#   GPU_CHECK_STEPS=5 bash scripts/gpu-check.sh
#
# GPU_CHECK_MODEL / GPU_CHECK_TUNE / GPU_CHECK_BATCH choose another model step (e.g.
# examples/miss_tiny.mile, t_t_t, 16 for a quick try of the script itself on lavapipe).
set -uo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
model="${GPU_CHECK_MODEL:-examples/miss_vqa.mile}"
tune="${GPU_CHECK_TUNE:-f_lora_lora_r4}"
batch="${GPU_CHECK_BATCH:-8}"
steps="${GPU_CHECK_STEPS:-3}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

adapter=$(node --import tsx --input-type=module -e "
  const { openDevice } = await import('./runtime/device.ts');
  const ctx = await openDevice();
  console.log(ctx.description + ' | kernel target: ' + ctx.target);
  ctx.close();
" 2>/dev/null) || adapter="(no adapter)"
echo "== adapter: $adapter"

echo "== WGSL conformance (both kernel targets, poisoned outputs, float64 reference)"
npx vitest run tests/gpu/ops.test.ts > "$out/conformance.log" 2>&1
conformance_rc=$?
conformance=$(grep -E "^ +Tests " "$out/conformance.log" | tail -1 | sed 's/^ *//')
echo "$conformance"
[ "$conformance_rc" = 0 ] || grep -E "×|FAIL" "$out/conformance.log" | head -20

echo "== npm run bench"
BENCH_REPS="${BENCH_REPS:-5}" npm run --silent bench 2>&1 | tee "$out/bench.log"
bench_rc=${PIPESTATUS[0]}

echo "== $model --tune $tune, batch $batch, $steps steps (random weights, synthetic data)"
./bin/milec.js train "$model" --tune "$tune" --weights none --data synthetic --steps "$steps" --batch "$batch" \
  --log-every 1 --eval-batches 0 --checkpoint-every 1000000 --json --out "$out/run" > "$out/train.log" 2>&1
train_rc=$?
done_line=$(grep '"done":true' "$out/train.log" | tail -1)
[ "$train_rc" = 0 ] || tail -20 "$out/train.log"

echo
echo "== summary"
echo "adapter:     $adapter"
echo "conformance: ${conformance:-no result} (exit $conformance_rc)"
echo "bench:       exit $bench_rc ($(grep -c . "$out/bench.log") lines above)"
if [ -n "$done_line" ]; then
  node -e "
    const d = JSON.parse(process.argv[1]);
    console.log('study step:  ' + process.argv[2] + ' ' + process.argv[3] + ' at batch ' + process.argv[4] + ': ' + d.msPerStep.toFixed(1) +
      ' ms/step, ' + d.dispatchesPerStep + ' dispatches/step, compile ' + (d.compileMs / 1000).toFixed(1) + ' s, loss ' +
      d.lossFirst.toFixed(4) + ' -> ' + d.lossLast.toFixed(4));
  " "$done_line" "$model" "$tune" "$batch"
else
  echo "study step:  failed (exit $train_rc)"
fi
[ "$conformance_rc" = 0 ] && [ "$bench_rc" = 0 ] && [ "$train_rc" = 0 ]

#!/usr/bin/env bash
# Pretrains MISS-tiny on the general-domain scenes (`--data synthetic-scenes`) in two stages and
# writes the two checkpoints the repository ships (examples/pretrained/), each recording in its
# metadata the command, seed and milec version that made it:
#   1. the image encoder alone (examples/scenes_vit.mile) on the scenes' attributes: count, colour,
#      shape, side and size of the shapes, as BLIP starts from a ViT pretrained on ImageNet;
#   2. all of MISS-tiny on the scenes' questions and captions, starting from that encoder (the
#      text towers from their random initial values: --allow-missing), with room for half the
#      answers to start at random later positions (--config alen=16; the fine-tunes use 5): the
#      decoder's position rows 10-13, where prefix tuning and P-tuning v2 with 10 virtual tokens
#      put the answer (HF's position offset), get trained, as BERT's pretraining trains them all.
# examples/miss_tiny.mile names the second file in its `weights { }` block, so `milec train` and
# `milec sweep` on it start from there. tests/pretrained/shipped.test.ts re-runs the first steps of
# both recorded commands. Seed and step counts are the arguments' defaults below.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
seed="${1:-0}"
milec=(node bin/milec.js)

time "${milec[@]}" train examples/scenes_vit.mile --data synthetic-scenes --weights none --seed "$seed" \
  --steps 400 --batch 64 --lr 3e-3 --warmup 20 --schedule cosine --log-every 50 --eval-batches 0 \
  --out runs/pretrain-vit --save-weights examples/pretrained/scenes_vit.safetensors

time "${milec[@]}" train examples/miss_tiny.mile --data synthetic-scenes \
  --weights examples/pretrained/scenes_vit.safetensors --allow-missing --seed "$seed" --config alen=16 \
  --steps 1200 --batch 32 --lr 2e-3 --warmup 50 --schedule cosine --log-every 50 --eval-batches 0 \
  --out runs/pretrain --save-weights examples/pretrained/miss_tiny_scenes.safetensors

"""PyTorch (CPU) peer of `npm run bench`: the training step of

    milec train examples/tiny_classifier.mile --tune lora_qv \
      --config dim=128 --config hidden=512 --config seq=32 --config max_len=64

at batch 8, the same computation as bench/peers/tfjs-step.mjs (see there for the model).

    python3 bench/peers/torch_step.py [--steps N] [--warmup N] [--threads N]

Prints one JSON line: {"peer":"torch-cpu","msPerStep":...,"steps":...,"version":"...","threads":...}.
Threads: --threads, else BENCH_TORCH_THREADS, else PyTorch's own default (reported as "threads").
"""

import argparse
import json
import math
import os
import statistics
import time

import torch
from torch import nn
import torch.nn.functional as F

VOCAB, SEQ, MAX_LEN, DIM, HEADS, HIDDEN, DEPTH, CLASSES, BATCH, R, ALPHA = 64, 32, 64, 128, 4, 512, 2, 4, 8, 8, 16


class LoraLinear(nn.Module):
    """peft's LoRA on a Linear: y = base(x) + (alpha / r) * B(A(x)); A Kaiming-uniform (a = sqrt 5), B zeros."""

    def __init__(self, base: nn.Linear):
        super().__init__()
        self.base = base
        self.lora_A = nn.Parameter(torch.empty(R, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, R))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scale = ALPHA / R

    def forward(self, x):
        return self.base(x) + (x @ self.lora_A.t() @ self.lora_B.t()) * self.scale


def linear(din, dout):
    """std.nn's Linear: weight normal(0, 0.02), bias zeros."""
    m = nn.Linear(din, dout)
    nn.init.normal_(m.weight, 0.0, 0.02)
    nn.init.zeros_(m.bias)
    return m


class Block(nn.Module):
    """std.attention's pre-LN TransformerBlock: exact (erf) GELU, no dropout."""

    def __init__(self):
        super().__init__()
        self.norm1 = nn.LayerNorm(DIM, eps=1e-5)
        self.query = LoraLinear(linear(DIM, DIM))
        self.key = linear(DIM, DIM)
        self.value = LoraLinear(linear(DIM, DIM))
        self.out = linear(DIM, DIM)
        self.norm2 = nn.LayerNorm(DIM, eps=1e-5)
        self.fc1 = linear(DIM, HIDDEN)
        self.fc2 = linear(HIDDEN, DIM)

    def forward(self, x):
        b, t, _ = x.shape
        hd = DIM // HEADS
        h0 = self.norm1(x)
        split = lambda y: y.reshape(b, t, HEADS, hd).transpose(1, 2)
        q, k, v = split(self.query(h0)), split(self.key(h0)), split(self.value(h0))
        att = torch.softmax(q @ k.transpose(-1, -2) * (1.0 / math.sqrt(hd)), dim=-1)
        h = x + self.out((att @ v).transpose(1, 2).reshape(b, t, DIM))
        return h + self.fc2(F.gelu(self.fc1(self.norm2(h))))


class TinyClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Parameter(torch.randn(VOCAB, DIM) * 0.02)
        self.pos = nn.Parameter(torch.randn(MAX_LEN, DIM) * 0.02)
        self.blocks = nn.ModuleList(Block() for _ in range(DEPTH))
        self.norm = nn.LayerNorm(DIM, eps=1e-5)
        self.head = linear(DIM, CLASSES)

    def forward(self, tokens, labels):
        x = self.embed[tokens] + self.pos[: tokens.shape[1]]
        for blk in self.blocks:
            x = blk(x)
        return F.cross_entropy(self.head(self.norm(x).mean(dim=1)), labels)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=int(os.environ.get("BENCH_REPS", 10)))
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_TORCH_THREADS", 0)))
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = TinyClassifier()
    for name, p in model.named_parameters():
        p.requires_grad_("lora_" in name or name.startswith("head."))
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(trainable, lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    tokens = torch.randint(0, VOCAB, (BATCH, SEQ))
    labels = torch.randint(0, CLASSES, (BATCH,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(tokens, labels)
        loss.backward()
        opt.step()
        return loss.item()

    first = step()
    for _ in range(max(3, a.warmup) - 1):
        step()
    ms, last = [], first
    for _ in range(a.steps):
        t = time.perf_counter()
        last = step()
        ms.append((time.perf_counter() - t) * 1000)
    print(
        json.dumps(
            {
                "peer": "torch-cpu",
                "msPerStep": round(statistics.median_high(ms), 2),
                "steps": a.steps,
                "version": torch.__version__,
                "threads": torch.get_num_threads(),
                "params": {"total": sum(p.numel() for p in model.parameters()), "trainable": sum(p.numel() for p in trainable)},
                "firstLoss": round(first, 4),
                "lastLoss": round(last, 4),
            }
        )
    )


if __name__ == "__main__":
    main()

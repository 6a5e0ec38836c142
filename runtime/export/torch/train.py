"""Trains the exported tune with data-parallel PyTorch and writes the trained adapter folder.

    python3 train.py [--steps N] [--out DIR] [--log-every N]                    one process
    MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 WORLD_SIZE=2 RANK=r python3 train.py   rank r of 2
    torchrun --nproc-per-node 8 train.py                                         (where torchrun works)

Each step takes the next exported global batch; rank r of W processes rows
[r B/W, (r+1) B/W) of it, and DistributedDataParallel (over the trainable parameters only:
the frozen ones get no gradient buckets) averages the gradients, so W processes train exactly
as one process with the whole batch. NCCL on GPUs, gloo on CPUs. AdamW with the tune's
learning rate, schedule, warm-up and weight decay (milec's betas and eps); rank 0 writes the
run folder as `milec train --out` does: the adapter in peft's folder format (adapter/, what
`milec train --adapter` loads) and adapter.safetensors (what `milec eval --checkpoint` reads;
`milec eval --adapter run/adapter --tune T` reads the folder).
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import milec_export  # noqa: E402
import milec_ops  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def setup():
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    use_cuda = torch.cuda.is_available() and os.environ.get("MILEC_DEVICE", "") != "cpu"
    device = torch.device("cpu")
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
        device = torch.device("cuda", local % torch.cuda.device_count())
        torch.cuda.set_device(device)
    if world > 1:
        dist.init_process_group("nccl" if use_cuda else "gloo", rank=rank, world_size=world)
    return rank, world, device


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, help="optimizer steps (default: the exported number)")
    ap.add_argument("--out", default=os.path.join(HERE, "run"), help="run folder to write (default: run/ here): adapter/ and adapter.safetensors")
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--seed", type=int, help="dropout seed (default: the exported one); rank r uses seed + r")
    a = ap.parse_args()
    rank, world, device = setup()
    spec = milec_export.read_spec(HERE)
    o = dict(spec["optimizer"])
    o["steps"] = a.steps or spec["data"]["steps"]
    torch.manual_seed((a.seed if a.seed is not None else spec["seed"]) + rank)

    milec_ops.DEVICE = device
    model = milec_export.build_model(HERE, spec).to(device)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    net = model
    if world > 1:
        net = DistributedDataParallel(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=bool(spec.get("unusedTrainable")),
        )
    opt = torch.optim.AdamW(trainable, lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"], weight_decay=o["weightDecay"])
    data = milec_export.Batches(HERE, spec, rank, world)
    start = time.time()
    for step in range(o["steps"]):
        lr = milec_export.scheduled_lr(o, step)
        for g in opt.param_groups:
            g["lr"] = lr
        batch = {k: v.to(device) for k, v in data.get(step).items()}
        loss = net(**batch)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % a.log_every == 0 or step == 0 or step + 1 == o["steps"]:
            mean = loss.detach().clone()
            if world > 1:
                dist.all_reduce(mean)
                mean /= world
            if rank == 0:
                print(json.dumps({"step": step + 1, "loss": mean.item(), "lr": lr, "sec": round(time.time() - start, 3)}), flush=True)
    if rank == 0:
        milec_export.save_run(model, spec, a.out, o["steps"])
        print(json.dumps({"run": a.out, "adapter": os.path.join(a.out, "adapter"), "steps": o["steps"], "world": world}), flush=True)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()

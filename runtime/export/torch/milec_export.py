"""An export folder of `milec export --torch`: the model with its tune and starting weights,
the pre-processed data shards, and the adapter folder a run writes (the format
`milec eval --adapter` and `milec train --adapter` read).

export.json says what is where: `weights` (every parameter, milec's names in PyTorch's
spelling), `trainable` (the names the tune trains), `peft` (milec_peft.attach's spec),
`data` (shards of pre-tokenised global batches), `optimizer` and `adapter` (the layout of the
adapter folder: peft's config and key for each parameter, or milec's own format).
"""
import importlib.util
import json
import os
import shutil
import sys

import torch

import milec_peft
import milec_safetensors as st


def read_spec(folder):
    path = os.path.join(folder, "export.json")
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise SystemExit(f"{path}: missing (not a folder written by `milec export --torch`)")


def generated_module(folder, name=None):
    """model.py of `folder`, imported under its own module name (so several exports load in one process)."""
    name = name or "milec_model_" + str(abs(hash(os.path.abspath(folder))))
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(folder, "model.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def build_model(folder, spec=None):
    """The model of `folder` with its tune attached, its exported values loaded (strictly) and only the tune's parameters trainable."""
    spec = spec or read_spec(folder)
    model = generated_module(folder).MODEL()
    milec_peft.attach(model, spec["peft"])
    weights = st.load(os.path.join(folder, spec["weights"]))
    model.load_state_dict(weights, strict=True)
    trainable = set(spec["trainable"])
    names = {n for n, _ in model.named_parameters()}
    missing = trainable - names
    if missing:
        raise SystemExit(f"export.json names trainable parameters the model lacks: {sorted(missing)[:5]}")
    for name, p in model.named_parameters():
        p.requires_grad_(name in trainable)
    return model


class Batches:
    """The exported global batches, step after step (wrapping around), this rank's rows of each."""

    def __init__(self, folder, spec, rank=0, world=1):
        data = spec["data"]
        if data["batch"] % world:
            raise SystemExit(f"the exported batch ({data['batch']}) does not split over {world} processes")
        self.folder, self.data, self.rank = folder, data, rank
        self.local = data["batch"] // world
        self._loaded = (None, None)

    def get(self, step):
        s = step % self.data["steps"]
        shard = next(x for x in self.data["shards"] if x["firstStep"] <= s < x["firstStep"] + x["steps"])
        if self._loaded[0] != shard["file"]:
            self._loaded = (shard["file"], st.load(os.path.join(self.folder, shard["file"])))
        row = (s - shard["firstStep"]) * self.data["batch"] + self.rank * self.local
        return {name: t[row : row + self.local] for name, t in self._loaded[1].items()}


def scheduled_lr(o, step):
    """The learning rate of 0-based step `step`: runtime/optim.ts : scheduledLr."""
    import math

    lr, warmup = o["lr"], o["warmup"]
    if step < warmup:
        return lr * step / max(1, warmup)
    if o["schedule"] == "constant":
        return lr
    progress = (step - warmup) / max(1, o["steps"] - warmup)
    return lr * max(0.0, 0.5 * (1 + math.cos(math.pi * progress)))


def save_run(model, spec, out, step):
    """The run folder of `milec train --out`: OUT/adapter/ (peft's format) and OUT/adapter.safetensors
    (the trainable parameters by name, with the metadata `milec eval --checkpoint OUT` reads)."""
    os.makedirs(out, exist_ok=True)
    save_adapter(model, spec, os.path.join(out, "adapter"))
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    meta = dict(spec["checkpoint"], step=str(step), format="milec-adapter")
    st.save(trainable, os.path.join(out, "adapter.safetensors"), metadata=meta)


def save_adapter(model, spec, out):
    """Writes the adapter folder `out` (replacing it whole) from the model's current values."""
    layout = spec["adapter"]
    values = {n: p.detach().float().cpu() for n, p in model.named_parameters()}
    tensors = {k["key"]: values[k["param"]].reshape(k["shape"]) for k in layout["keys"]}
    for d in layout["derived"]:
        tensors[d["key"]] = milec_peft.prefix_table_of(model, d["group"]).float().cpu()
    side = {k["key"]: values[k["param"]].reshape(k["shape"]) for k in layout["side"]}
    tmp = f"{out}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    with open(os.path.join(tmp, "adapter_config.json"), "w") as f:
        f.write(json.dumps(layout["config"], indent=2) + "\n")
    st.save(tensors, os.path.join(tmp, "adapter_model.safetensors"), metadata={"format": "pt"})
    if side:
        st.save(side, os.path.join(tmp, "milec_adapter.safetensors"), metadata={"format": "pt"})
    old = f"{out}.old-{os.getpid()}"
    if os.path.exists(out):
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)

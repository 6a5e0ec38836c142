"""The loss and the trainable parameters' gradients at the exported starting point, on one exported
batch, for each export folder given: written to FOLDER/check.safetensors (`loss`, `grad.<name>`).

    python3 check.py FOLDER [FOLDER ...] [--step N]

milec's parity tests compare them with the same step on Dawn. Dropout stays on as in training
(tunes with dropout give a random sample; compare those with dropout 0).
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import milec_export  # noqa: E402
import milec_safetensors as st  # noqa: E402


def check(folder, step):
    spec = milec_export.read_spec(folder)
    model = milec_export.build_model(folder, spec)
    model.train()
    batch = milec_export.Batches(folder, spec).get(step)
    loss = model(**batch)["loss"]
    loss.backward()
    out = {"loss": loss.detach().reshape(1)}
    for name, p in model.named_parameters():
        if p.requires_grad:
            out["grad." + name] = p.grad if p.grad is not None else torch.zeros_like(p)
    st.save(out, os.path.join(folder, "check.safetensors"))
    return {"folder": folder, "loss": loss.item(), "grads": len(out) - 1}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--step", type=int, default=0, help="which exported batch (0-based)")
    a = ap.parse_args()
    torch.manual_seed(0)
    for folder in a.folders:
        print(json.dumps(check(folder, a.step)), flush=True)


if __name__ == "__main__":
    main()

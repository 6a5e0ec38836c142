"""milec's PEFT methods as plain PyTorch, attached to the generated modules of model.py.

No dependency on `peft` or `transformers`. Each method registers its parameters on the site
module itself, under milec's names (`query.lora_A`, `key.ia3_l`), so the model's state_dict
keys are milec's parameter paths; parameters shared by one application (prefix tuning's
encoder) live in a child of the model named like milec's path prefix (`prefix_0`). The formulas
are those of compiler/peft/methods/*.ts (HF peft's):

  lora    y = base(x) + (alpha / r) * B(A(dropout(x)))   (alpha / sqrt(r) with rslora); on a
          stride-k Conv2d, A and B act on the non-overlapping k x k patches
  dora    y = base(x) + (m/|W + sBA| - 1) * (x~ W^T) + (m/|W + sBA|) * s (x~ A^T B^T), row norm
          detached, x~ = dropout(x)
  adapter y = base(x) + scale * up(relu(down(h))), h = base(x) (sequential) or x (parallel)
  prompt  [P; base(ids)] along the sequence axis (P [n, dim] expanded over the batch)
  ln_tuning  nothing added: the LayerNorm's own parameters train (export.json lists them)
  ia3     y = base(x) * l, or base(x * l) for feed-forward sites
  prefix  P = W2 tanh(W1 E + b1) + b2 over E [n, d]; site i prepends columns [2i d, (2i+1) d) of P
          to its keys and the next d to its values (split into heads, expanded over the batch)
  ptv2    the same with P = E [n, L 2 d]

`attach(model, spec)` takes the `peft` section of export.json (compiler/emit/torch/peft-spec.ts).
"""
import torch
import torch.nn.functional as F
from torch import nn


def _new_param(shape):
    return nn.Parameter(torch.empty(*shape))


def _wrap_forward(site, around):
    """Replaces site.forward by around(base, *args, **named); earlier wraps stay inside."""
    base = site.forward

    def forward(*args, **named):
        return around(base, *args, **named)

    site.forward = forward


def lora(model, site, spec):
    o = spec["options"]
    scale = o["alpha"] / (o["r"] ** 0.5 if o.get("rslora") else o["r"])
    p = o.get("dropout", 0.0)
    conv = spec["siteType"] == "Conv2d"

    def around(base, x, *rest, **named):
        xd = F.dropout(x, p, site.training) if p > 0 else x
        update = _conv_update(site, xd) if conv else (xd @ site.lora_A.t()) @ site.lora_B.t()
        return base(x, *rest, **named) + update * scale

    _wrap_forward(site, around)


def _conv_update(site, x):
    """B(A(x)) for a Conv2d with stride = kernel: x [B, in, H, W] -> [B, out, H/k, W/k]."""
    r, cin, k, _ = site.lora_A.shape
    cout = site.lora_B.shape[0]
    b, _, h, w = x.shape
    hp, wp = h // k, w // k
    patches = x.reshape(b, cin, hp, k, wp, k).permute(0, 2, 4, 1, 3, 5).reshape(b, hp * wp, cin * k * k)
    up = (patches @ site.lora_A.reshape(r, cin * k * k).t()) @ site.lora_B.reshape(cout, r).t()
    return up.permute(0, 2, 1).reshape(b, cout, hp, wp)


def dora(model, site, spec):
    o = spec["options"]
    scale = o["alpha"] / (o["r"] ** 0.5 if o.get("rslora") else o["r"])
    p = o.get("dropout", 0.0)

    def around(base, x, *rest, **named):
        W = site.weight
        merged = W + scale * (site.lora_B @ site.lora_A)
        mag = site.lora_magnitude_vector / merged.pow(2).sum(1).sqrt().detach()
        xd = F.dropout(x, p, site.training) if p > 0 else x
        update = (xd @ site.lora_A.t()) @ site.lora_B.t()
        return base(x, *rest, **named) + (mag - 1) * (xd @ W.t()) + mag * scale * update

    _wrap_forward(site, around)


def adapter(model, site, spec):
    o = spec["options"]
    scale = o.get("scale", 1.0)

    def around(base, x, *rest, **named):
        y = base(x, *rest, **named)
        h = x if o.get("parallel") else y
        up = torch.relu(h @ site.adapter_down.t() + site.adapter_down_bias) @ site.adapter_up.t() + site.adapter_up_bias
        return y + (up if scale == 1 else up * scale)

    _wrap_forward(site, around)


def prompt(model, site, spec):
    def around(base, ids, *rest, **named):
        e = base(ids, *rest, **named)
        p = site.prompt_embeddings
        return torch.cat([p.expand(e.shape[0], *p.shape), e], dim=1)

    _wrap_forward(site, around)


def ln_tuning(model, site, spec):
    """The site's own weight and bias train; its forward is unchanged."""


def ia3(model, site, spec):
    if spec["options"].get("feedforward"):
        _wrap_forward(site, lambda base, x, *rest, **named: base(x * site.ia3_l, *rest, **named))
    else:
        _wrap_forward(site, lambda base, *args, **named: base(*args, **named) * site.ia3_l)


def _prefix_table(group):
    """P [n, L 2 d] of prefix tuning, through its Embedding -> Linear -> Tanh -> Linear encoder."""
    hidden = torch.tanh(group.embedding @ group.transform_in_weight.t() + group.transform_in_bias)
    return hidden @ group.transform_out_weight.t() + group.transform_out_bias


def _prefixes(model, site, spec, table, width, p):
    i = spec["siteIndex"]

    def prepend(k):
        def fn(x):
            b, heads, _, hd = x.shape
            if heads * hd != width:
                raise ValueError(f"{spec['module']}: keys/values {tuple(x.shape)} do not split a width of {width} into heads")
            P = table()
            if p > 0:
                P = F.dropout(P, p, site.training)
            block = P[:, k * width : (k + 1) * width]
            n = block.shape[0]
            per_head = block.reshape(n, heads, hd).permute(1, 0, 2)
            return torch.cat([per_head.expand(b, heads, n, hd), x], dim=2)

        return fn

    site.milec_hooks.setdefault("keys", []).append(prepend(2 * i))
    site.milec_hooks.setdefault("values", []).append(prepend(2 * i + 1))


def prefix(model, site, spec):
    group = getattr(model, spec["shared"])
    width = group.embedding.shape[1]
    _prefixes(model, site, spec, lambda: _prefix_table(group), width, spec["options"].get("dropout", 0.0))


def ptv2(model, site, spec):
    group = getattr(model, spec["shared"])
    width = group.embedding.shape[1] // (2 * spec["siteCount"])
    _prefixes(model, site, spec, lambda: group.embedding, width, 0.0)


METHODS = {
    "lora": lora,
    "dora": dora,
    "ia3": ia3,
    "adapter": adapter,
    "prompt": prompt,
    "ln_tuning": ln_tuning,
    "prefix": prefix,
    "ptv2": ptv2,
}


def attach(model, spec):
    """Adds the tune's parameters (empty: load their values) and wires its methods into `model`."""
    for group in spec["shared"]:
        holder = nn.Module()
        for p in group["params"]:
            holder.register_parameter(p["name"], _new_param(p["shape"]))
        model.add_module(group["name"], holder)
    for s in spec["sites"]:
        site = model.get_submodule(s["module"])
        for p in s["params"]:
            site.register_parameter(p["name"], _new_param(p["shape"]))
        if s["method"] not in METHODS:
            raise ValueError(f"milec_peft.py has no method {s['method']!r} (at {s['module']})")
        METHODS[s["method"]](model, site, s)
    for h in spec["hookValues"]:
        module = model.get_submodule(h["module"])
        module.milec_hooks[h["hook"]] = [lambda _marked, value=h["value"]: value]
    return model


def prefix_table_of(model, group_name):
    """The table peft saves as `prompt_embeddings` for a `prefix` group (its encoder's output)."""
    with torch.no_grad():
        return _prefix_table(getattr(model, group_name)).detach()

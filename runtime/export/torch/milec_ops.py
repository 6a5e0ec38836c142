"""The builtins of .mile as PyTorch functions, with the same names and arguments.

Each function means what compiler/lower/builtins.ts lowers it to (the float64 reference in
compiler/ops/reference.ts is the definition both follow); model.py calls them as `mile.<name>`.
Also the base class of the generated modules (`Module`, with the `hook NAME(x)` points) and
`Repeat`, a repeated child.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


class Module(nn.Module):
    """A generated .mile module: an nn.Module with `hook NAME(x)` points PEFT methods intervene at."""

    def __init__(self):
        super().__init__()
        # hook name -> functions applied in order to the marked value (milec_peft.py fills it)
        self.milec_hooks = {}

    def milec_hook(self, name, value):
        for fn in self.milec_hooks.get(name, ()):
            value = fn(value)
        return value


class Repeat(nn.ModuleList):
    """`repeat n M(...)`: the copies run in sequence, each taking the previous one's result as its first argument."""

    def forward(self, x, *rest, **named):
        for m in self:
            x = m(x, *rest, **named)
        return x


# ---------------------------------------------------------------- scalars and elementwise


def div(a, b):
    """`/` between ints: exact when it divides (a size), else a float, as .mile's constant evaluation."""
    if isinstance(a, int) and isinstance(b, int) and b != 0 and a % b == 0:
        return a // b
    return a / b


def add(a, b):
    """`a + b` where an absent optional operand (none) leaves the other one."""
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def sub(a, b):
    if b is None:
        return a
    if a is None:
        return b
    return a - b


def _unary(tensor_fn, scalar_fn):
    def fn(x):
        return tensor_fn(x) if torch.is_tensor(x) else scalar_fn(x)

    return fn


exp = _unary(torch.exp, math.exp)
log = _unary(torch.log, math.log)
sqrt = _unary(torch.sqrt, math.sqrt)
tanh = _unary(torch.tanh, math.tanh)
sigmoid = _unary(torch.sigmoid, lambda x: 1 / (1 + math.exp(-x)))
relu = _unary(torch.relu, lambda x: max(x, 0))


def gelu(x):
    """Exact (erf) GELU."""
    return F.gelu(x)


def default(value, fallback):
    return fallback if value is None else value


def detach(x):
    return x.detach()


def dropout(x, p, training=True):
    """Inverted dropout; only in training (milec's inference graphs have none)."""
    return F.dropout(x, p, training) if p > 0 else x


# ---------------------------------------------------------------- reductions and rows


def _axes(x, dim):
    if dim is None:
        return list(range(x.dim()))
    return [dim] if isinstance(dim, int) else list(dim)


def sum(x, dim=None, keepdim=False):  # noqa: A001 - the .mile name
    return torch.sum(x, dim=_axes(x, dim), keepdim=keepdim)


def mean(x, dim=None, keepdim=False):
    return torch.mean(x, dim=_axes(x, dim), keepdim=keepdim)


def max(x, dim=None, keepdim=False):  # noqa: A001 - the .mile name
    return torch.amax(x, dim=_axes(x, dim), keepdim=keepdim)


def softmax(x, dim=-1):
    return torch.softmax(x, dim)


def log_softmax(x, dim=-1):
    return torch.log_softmax(x, dim)


def layer_norm(x, weight=None, bias=None, eps=1e-5):
    """Normalise over the last axis (biased variance), then scale and shift."""
    return F.layer_norm(x, (x.shape[-1],), weight, bias, eps)


# ---------------------------------------------------------------- movement


def reshape(x, shape):
    return x.reshape(shape)


def transpose(x, dim0, dim1):
    return x.transpose(dim0, dim1)


def permute(x, dims):
    return x.permute(dims)


def concat(xs, dim=0):
    return torch.cat(xs, dim)


def expand(x, shape):
    return x.expand(shape)


def size(x, dim):
    return x.shape[dim]


def gather(table, ids):
    """Rows of `table` at the integer `ids` (an embedding lookup)."""
    return F.embedding(ids.long(), table)


# ---------------------------------------------------------------- masks and losses


def one_hot(labels, classes):
    """f32 one-hot rows; a label outside [0, classes) gives a row of zeros."""
    return (labels.long().unsqueeze(-1) == torch.arange(classes, device=labels.device)).float()


# Where tensors made from sizes alone (causal_mask) are created: train.py sets the training device.
DEVICE = None


def causal_mask(rows, cols):
    """0 where key j may be seen by query i (j <= i + cols - rows), -1e9 elsewhere."""
    i = torch.arange(rows, device=DEVICE).unsqueeze(1)
    j = torch.arange(cols, device=DEVICE).unsqueeze(0)
    return (j > i + (cols - rows)).float() * -1e9


def attention_mask(ids, pad=0):
    """Hugging Face's attention_mask: 1 at tokens, 0 where the id is `pad`."""
    return (ids != pad).float()


def attention_bias(mask, cols=None):
    """Additive bias [B, 1, 1, cols] from a key mask [B, S]: 0 kept, -1e9 masked, the cols - S leading columns visible."""
    if mask is None:
        return None
    bias = (mask - 1) * 1e9
    keys = mask.shape[1]
    if cols is not None and cols != keys:
        bias = F.pad(bias, (cols - keys, 0))
    return bias.reshape(mask.shape[0], 1, 1, bias.shape[1])


def cross_entropy(logits, labels, smoothing=0.0, ignore=None, reduction="mean"):
    """Cross-entropy with PyTorch's label smoothing; labels equal to `ignore` count nothing (as builtins.ts)."""
    classes = logits.shape[-1]
    lp = torch.log_softmax(logits, -1)
    oh = one_hot(labels, classes)
    per_item = -(oh * lp).sum(-1)
    if smoothing > 0:
        per_item = per_item * (1 - smoothing) + (-lp.mean(-1)) * smoothing
    if ignore is None:
        if reduction == "none":
            return per_item
        return per_item.sum() if reduction == "sum" else per_item.mean()
    kept = 1 - oh[..., ignore] if 0 <= ignore < classes else oh.sum(-1)
    masked = per_item * kept
    if reduction == "none":
        return masked
    total = masked.sum()
    if reduction == "sum":
        return total
    count = kept.sum()
    return total / (count + (count == 0).float())

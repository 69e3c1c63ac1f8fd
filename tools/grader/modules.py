"""Course modules sent to the worker as weights, and the worker's copy of the package.

A test may hand a student function a ``normres.transformer.TransformerBlock`` or
``TransformerEncoder``. The worker never gets the grader's live object (nothing a student
function could call back into, no instance-level overrides to delete): :func:`module_spec` turns it
into data (its class, its constructor arguments, its ``state_dict``, the gradients of its
parameters, train/eval mode) and :func:`rebuild` makes a fresh one inside the worker from
:func:`worker_package`'s copy of the package.

That copy holds only what graded code may use: the attention and feed-forward sublayers, the
block and encoder classes and the token task, with ``norms.py`` replaced by parameter boxes
(``weight``, ``bias``, ``eps``) whose ``forward`` raises. ``normres.functional``,
``normres.backward`` and ``normres.nn`` (the package's own layers) do not exist in the sandbox.
"""

from __future__ import annotations

import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent.parent / "code" / "normres"
# the files of normres a graded function may use, copied verbatim into the worker's package
COPIED = ("_checks.py", "transformer/attention.py", "transformer/feedforward.py",
          "transformer/block.py", "transformer/encoder.py", "transformer/task.py")
GRADER_FILES = ("protocol.py", "forbid.py", "worker.py", "modules.py")
KINDS = ("TransformerBlock", "TransformerEncoder")

NORMS_STUB = '''"""The sandbox's stand-in for normres.transformer.norms: a norm is a box of parameters."""
import torch
from torch import nn

NORM_KINDS = ("layer", "none")


def check_norm_kind(norm):
    if norm not in NORM_KINDS:
        raise ValueError(f"norm must be one of {list(NORM_KINDS)} in the grader's sandbox, got {norm!r}")
    return norm


class NormParameters(nn.Module):
    """weight (gamma), bias (beta) and eps of a layer norm over the last axis; not callable."""

    def __init__(self, d_model, eps=1e-5, bias=True):
        super().__init__()
        self.normalized_shape, self.eps = (d_model,), eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model)) if bias else None

    def forward(self, *args, **kwargs):
        raise RuntimeError("in the grader's sandbox a norm module only holds parameters: read its "
                           "weight, bias and eps and call your own layer_norm")


def make_norm(norm, d_model, eps=1e-5, *, bias=True, max_len=None):
    check_norm_kind(norm)
    return NormParameters(d_model, eps, bias) if norm == "layer" else nn.Identity()


def apply_norm(norm, x, key_padding_mask):
    return norm(x)
'''

TRANSFORMER_INIT = '''"""The sandbox's normres.transformer: sublayers, blocks, the encoder and the token task only."""
from .attention import MultiHeadSelfAttention, check_key_padding_mask
from .block import NORM_POSITIONS, TransformerBlock, deepnorm_constants
from .encoder import TransformerEncoder
from .feedforward import FeedForward
from .norms import NormParameters, make_norm
from .task import IGNORE_INDEX, PAD_ID, TASKS, TokenBatch, TokenTask, concat_batches
'''

PACKAGE_INIT = '''"""The grader's sandbox holds only normres.transformer's sublayers, blocks, encoder and task;
the package's layers (normres.functional, normres.backward, normres.nn) are not available to
graded code."""
'''


def worker_package(dest: Path) -> Path:
    """Write the worker's import folder into ``dest``: ``grader/`` (the worker's side of the
    protocol, the operator block) and the reduced ``normres/``. Returns ``dest``."""
    dest = Path(dest)
    (dest / "grader").mkdir(parents=True, exist_ok=True)
    (dest / "grader" / "__init__.py").write_text('"""The worker side of the grader."""\n')
    for name in GRADER_FILES:
        shutil.copyfile(HERE / name, dest / "grader" / name)
    (dest / "normres" / "transformer").mkdir(parents=True, exist_ok=True)
    (dest / "normres" / "__init__.py").write_text(PACKAGE_INIT)
    for rel in COPIED:
        shutil.copyfile(PACKAGE / rel, dest / "normres" / rel)
    (dest / "normres" / "transformer" / "norms.py").write_text(NORMS_STUB)
    (dest / "normres" / "transformer" / "__init__.py").write_text(TRANSFORMER_INIT)
    return dest


# --------------------------------------------------------------------------------- specs

def _config(obj):
    """``(kind, constructor kwargs)`` of a course module, or None if ``obj`` is not one."""
    kind = type(obj).__name__
    if kind not in KINDS or not type(obj).__module__.startswith("normres.transformer"):
        return None
    if kind == "TransformerBlock":
        blocks, top = [obj], {}
    else:
        blocks = list(obj.blocks)
        top = {"vocab_size": obj.vocab_size, "n_classes": obj.n_classes, "n_layers": obj.n_layers,
               "max_len": obj.max_len, "positions": obj.positions, "pad_id": obj.pad_id,
               "init": "torch", "deepnorm_init": False,
               "final_norm": type(obj.final_norm).__name__ != "Identity"}
    b = blocks[0]
    if b.norm not in ("layer", "none"):
        return None
    cfg = {"d_model": b.ffn.linear1.in_features, "n_heads": b.self_attn.n_heads,
           "d_ff": b.ffn.linear1.out_features, "norm_position": b.norm_position, "norm": b.norm,
           "activation": b.ffn.activation, "bias": b.ffn.linear1.bias is not None,
           "eps": float(getattr(b.norm1, "eps", 1e-5)), "deepnorm_alpha": b.deepnorm_alpha}
    return kind, {**cfg, **top}


def module_spec(obj, enc):
    """The ``{"mod": ...}`` spec of a course module (weights as data), or None for anything else."""
    import torch

    if not isinstance(obj, torch.nn.Module):
        return None
    found = _config(obj)
    if found is None:
        return {"opaque": f"module {type(obj).__name__} (not sendable to the sandbox)"}
    kind, cfg = found
    return {"mod": kind, "cfg": {k: enc(v) for k, v in cfg.items()},
            "state": {k: enc(v) for k, v in obj.state_dict().items()},
            "grads": {k: enc(p.grad) for k, p in obj.named_parameters() if p.grad is not None},
            "training": bool(obj.training)}


def rebuild(spec, dec):
    """Inside the worker: a fresh module from its spec (constructed without touching the global
    random state, then loaded with the sent weights and gradients)."""
    import torch

    import normres.transformer as T

    kind = spec.get("mod")
    if kind not in KINDS:
        raise ValueError(f"unknown module kind {kind!r}")
    cfg = {k: dec(v) for k, v in dict(spec.get("cfg") or {}).items()}
    state = {k: dec(v) for k, v in dict(spec.get("state") or {}).items()}
    with torch.random.fork_rng(devices=[]):
        module = getattr(T, kind)(**cfg)
    floats = [v for v in state.values() if isinstance(v, torch.Tensor) and v.is_floating_point()]
    if floats:
        module.to(floats[0].dtype)
    module.load_state_dict({k: v.detach() for k, v in state.items()}, strict=True)
    params = dict(module.named_parameters())
    for k, v in dict(spec.get("grads") or {}).items():
        if k in params:
            params[k].grad = dec(v).detach().to(params[k].dtype)
    module.train(bool(spec.get("training", True)))
    return module


def module_after(module, sent_state: dict) -> dict:
    """Inside the worker, after a call: the module's parameter gradients (the only state a graded
    function may change) and the names of weights or buffers it changed in place."""
    changed = [k for k, v in module.state_dict().items()
               if k in sent_state and not _same(v, sent_state[k])]
    return {"grads": {k: p.grad for k, p in module.named_parameters() if p.grad is not None},
            "changed": changed}


def _same(a, b) -> bool:
    import torch

    a, b = a.detach(), b.detach()
    return a.shape == b.shape and a.dtype == b.dtype and bool(
        torch.equal(a, b) or (a.is_floating_point() and torch.equal(a.isnan(), b.isnan())
                              and torch.equal(a.nan_to_num(), b.nan_to_num())))

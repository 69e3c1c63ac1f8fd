"""tools/grader/forbid.py: torch's normalization kernels raise at the dispatcher, whatever the
route graded code takes (threads, dispatch modes turned off, aten ops, redispatch, decompose,
no_grad, inference_mode), the registration survives garbage collection and the destruction of every library object reachable through `gc`, and ordinary tensor
operations still work. Run in a subprocess: the blocking is irreversible by design."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r'''
import gc, threading
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import _disable_current_modes
from grader.forbid import ForbiddenOperator, forbid_normalization_kernels

forbid_normalization_kernels()
gc.collect()
for obj in gc.get_objects():    # what student code could try: destroy every reachable library
    if isinstance(obj, torch.library.Library):
        try:
            obj._destroy()
        except Exception:
            pass
x = torch.randn(4, 3, dtype=torch.float64)

def in_thread(fn):
    out = []
    def run():
        try:
            fn()
            out.append("ran")
        except ForbiddenOperator:
            out.append("raised")
    t = threading.Thread(target=run)
    t.start()
    t.join()
    if out[0] == "ran":
        raise AssertionError("ran in a thread")
    raise ForbiddenOperator("raised in a thread")

def modes_off():
    with _disable_current_modes():
        F.layer_norm(x, (3,))

routes = {
    "F.batch_norm": lambda: F.batch_norm(x, None, None, training=True),
    "F.layer_norm": lambda: F.layer_norm(x, (3,)),
    "F.rms_norm": lambda: F.rms_norm(x, (3,)),
    "F.group_norm": lambda: F.group_norm(x[None].expand(2, 4, 3), 2),
    "F.instance_norm": lambda: F.instance_norm(x[None]),
    "nn.LayerNorm": lambda: torch.nn.LayerNorm(3, dtype=torch.float64)(x),
    "aten op": lambda: torch.ops.aten.native_layer_norm(x, [3], None, None, 1e-5),
    "layer norm backward op": lambda: torch.ops.aten.native_layer_norm_backward(
        x, x, [3], x.mean(1, keepdim=True), x.std(1, keepdim=True), None, None, [True, False, False]),
    "redispatch": lambda: torch.ops.aten.native_layer_norm.default.redispatch(
        torch._C.DispatchKeySet(torch._C.DispatchKey.CPU), x, [3], None, None, 1e-5),
    "decompose": lambda: torch.ops.aten.native_batch_norm.default.decompose(
        x, None, None, None, None, True, 0.1, 1e-5),
    "thread": lambda: in_thread(lambda: F.layer_norm(x, (3,))),
    "dispatch modes off": modes_off,
}
def under(ctx, fn):
    def run():
        with ctx():
            fn()
    return run
routes["no_grad"] = under(torch.no_grad, routes["F.batch_norm"])
routes["inference_mode"] = under(torch.inference_mode, routes["F.layer_norm"])
ran = []
for name, fn in routes.items():
    try:
        fn()
        ran.append(name)
    except ForbiddenOperator:
        pass
assert not ran, f"torch's normalization ran through: {ran}"
mean = x.mean(1, keepdim=True)
y = (x - mean) / torch.sqrt(((x - mean) ** 2).mean(1, keepdim=True) + 1e-5)
assert torch.isfinite(y).all() and y.shape == (4, 3)
print("ok", len(routes))
'''


def test_normalization_kernels_raise_on_every_route():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={"PYTHONPATH": str(ROOT / "tools"),
                                                      "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert proc.stdout.startswith("ok"), proc.stdout

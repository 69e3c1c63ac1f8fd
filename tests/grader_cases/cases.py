"""Crafted submissions: each starts from a master's solutions, one question's work replaced by a
trick (or by an honest idiom), with the score a fair grader gives it.

``a1_cases``, ``a2_cases`` and ``a3_cases`` return ``{submission: (notebook, expected, phrases)}``:
``expected`` maps questions to their score (questions not named keep the master's full marks),
``phrases`` are texts the report must contain (what the sandbox observed). ``host``
is a folder on the grading machine the tricks try to read or write (the tests check nothing
appeared there). A trick that is blocked earns what the same question earns with no work: zero
where every test of the question needs the function's right numbers.
"""

from __future__ import annotations

import copy
import json

A1, A2, A3 = "batch_norm_by_hand", "layer_norm_padded", "residual_transformer_block"
A1_FULL = {"q1_train_forward": 5, "q2_running_stats": 6, "q3_backward": 6, "q4_gradient_check": 4}
A2_FULL = {"q1_ln_forward": 4, "q2_ln_backward": 5, "q3_rms_norm": 5, "q4_masked_batch_norm": 5,
           "q5_your_test": 3}
A3_FULL = {"q1_layer_norm": 3, "q2_pre_ln_block": 5, "q3_post_ln_block": 3, "q4_encoder_logits": 3,
           "q5_ffn_grad_norms": 2, "q6_gradient_profile": 2}


def src(cell) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def code_cell(text: str) -> dict:
    return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": text}


def replace_def(nb: dict, name: str, new_source: str) -> dict:
    """A copy of ``nb`` whose cell defining ``name`` defines nothing of it (``new_source`` is added
    as a cell right after it); other definitions of that cell stay."""
    nb = copy.deepcopy(nb)
    for i, cell in enumerate(nb["cells"]):
        text = src(cell)
        if cell["cell_type"] == "code" and f"def {name}(" in text:
            cell["source"] = text.replace(f"def {name}(", f"def _master_{name}(", 1)
            nb["cells"].insert(i + 1, code_cell(new_source))
            return nb
    raise AssertionError(f"no cell defines {name}")


def edit_def(nb: dict, name: str, old: str, new: str) -> dict:
    """A copy of ``nb`` with ``old`` replaced by ``new`` in the cell defining ``name``."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        text = src(cell)
        if cell["cell_type"] == "code" and f"def {name}(" in text:
            assert old in text, f"{old!r} not in {name}"
            cell["source"] = text.replace(old, new)
            return nb
    raise AssertionError(f"no cell defines {name}")


def add_cell(nb: dict, text: str, after: str | None = None) -> dict:
    """A copy of ``nb`` with a code cell ``text`` after the cell defining ``after`` (or at the end)."""
    nb = copy.deepcopy(nb)
    at = len(nb["cells"])
    if after:
        at = next(i for i, c in enumerate(nb["cells"]) if f"def {after}(" in src(c)) + 1
    nb["cells"].insert(at, code_cell(text))
    return nb


HONEST_BN_BACKWARD = '''
def bn_backward(dout, x, gamma, eps=1e-5):
    with torch.no_grad():                          # an honest idiom: no graph is needed
        dims = (0,) + tuple(range(2, x.dim()))
        m = x.numel() // x.shape[1]
        mean = x.mean(dim=dims, keepdim=True)
        inv_std = 1.0 / torch.sqrt(((x - mean) ** 2).mean(dim=dims, keepdim=True) + eps)
        xhat = (x - mean) * inv_std
        dxhat = dout * gamma.reshape((1, -1) + (1,) * (x.dim() - 2))
        dx = inv_std / m * (m * dxhat - dxhat.sum(dim=dims, keepdim=True)
                            - xhat * (dxhat * xhat).sum(dim=dims, keepdim=True))
        return dx, (dout * xhat).sum(dim=dims), dout.sum(dim=dims)
'''

# the (N, D) backward pass (the batch-norm chapter prints one like it): it does not handle (N, C, H, W)
CHAPTER_BN_BACKWARD = '''
def bn_backward(dout, x, gamma, eps=1e-5):
    n = x.shape[0]
    mean = x.mean(dim=0)
    inv_std = 1.0 / torch.sqrt(((x - mean) ** 2).mean(dim=0) + eps)
    xhat = (x - mean) * inv_std
    dxhat = dout * gamma
    dx = inv_std / n * (n * dxhat - dxhat.sum(dim=0) - xhat * (dxhat * xhat).sum(dim=0))
    return dx, (dout * xhat).sum(dim=0), dout.sum(dim=0)
'''

# the (N, D) training forward the batch-norm chapter prints: it rejects (N, C, H, W)
CHAPTER_BN_TRAIN_FORWARD = '''
def bn_train_forward(x, gamma, beta, eps=1e-5):
    if x.dim() != 2:
        raise ValueError("x must be (N, D)")
    mean = x.mean(dim=0)
    var = ((x - mean) ** 2).mean(dim=0)
    return (x - mean) / torch.sqrt(var + eps) * gamma + beta, mean, var
'''

AUTOGRAD_HELPER = '''
def _helper(dout, x, gamma, eps=1e-5):
    x = x.detach().clone().requires_grad_()
    g = gamma.detach().clone().requires_grad_()
    b = torch.zeros_like(g, requires_grad=True)
    with torch.enable_grad():
        mean = x.mean(0)
        y = (x - mean) / torch.sqrt(((x - mean) ** 2).mean(0) + eps) * g + b
        torch.autograd.backward(y, dout)
    return x.grad.detach(), g.grad.detach(), b.grad.detach()
'''


def a1_tricks(host: str, tests_dir: str) -> dict:
    """``{trick: (notebook -> notebook, expected, phrase)}`` for assignment 1."""
    q3_zero = {"q3_backward": 0}
    return {
        # ---- honest idioms keep every point
        "honest_idioms": (lambda nb: add_cell(replace_def(nb, "bn_backward", HONEST_BN_BACKWARD),
                                   "import importlib, inspect, gc\n"
                                   "torch.backends.cudnn.deterministic = True\n"
                                   "print(vars(torch.nn.functional).keys())\n"
                                   "print(inspect.signature(bn_backward))", after="bn_train_forward"),
                          {}, None),
        # ---- a chapter-style (N, D) backward handed in: only the (N, D) worked value passes
        "copies_the_chapter": (lambda nb: replace_def(nb, "bn_backward", CHAPTER_BN_BACKWARD),
                               {"q3_backward": 0.5}, None),
        # ---- the chapter's (N, D) training forward handed in: the hidden comparison with torch and
        # the eps test include (N, C, H, W) inputs (2 points lost); the ValueError, batch-of-one and
        # no-builtin points stay
        "copies_the_chapter_forward": (lambda nb: replace_def(nb, "bn_train_forward", CHAPTER_BN_TRAIN_FORWARD),
                                       {"q1_train_forward": 3}, None),
        # ---- a graded name bound by assignment to autograd: the autograd guard applies to it
        "rebinding": (lambda nb: replace_def(nb, "bn_backward", AUTOGRAD_HELPER + "\nbn_backward = _helper\n"),
                      q3_zero, "autograd"),
        # ---- the same helper in a thread (grad and inference mode are thread-local; the block is not)
        "thread_autograd": (lambda nb: replace_def(nb, "bn_backward", AUTOGRAD_HELPER + '''
import threading
def bn_backward(dout, x, gamma, eps=1e-5):
    out = []
    t = threading.Thread(target=lambda: out.append(_helper(dout, x, gamma, eps)))
    t.start(); t.join()
    return out[0]
'''), q3_zero, "autograd"),
        # ---- torch's own backward kernel in a thread, and with the dispatch modes switched off
        "thread_kernel": (lambda nb: replace_def(nb, "bn_backward", '''
import threading
def bn_backward(dout, x, gamma, eps=1e-5):
    out = []
    def run():
        mean = x.mean(0)
        invstd = 1 / torch.sqrt(((x - mean) ** 2).mean(0) + eps)
        out.append(torch.ops.aten.native_batch_norm_backward(dout, x, gamma, None, None, mean, invstd,
                                                            True, eps, [True, True, True]))
    t = threading.Thread(target=run); t.start(); t.join()
    return out[0]
'''), q3_zero, "torch's normalization"),
        # q1 keeps the point of its ValueError; q2's evaluation mode does not use bn_train_forward
        "modes_off": (lambda nb: replace_def(nb, "bn_train_forward", '''
from torch.utils._python_dispatch import _disable_current_modes
def bn_train_forward(x, gamma, beta, eps=1e-5):
    if x.dim() != 2:
        raise ValueError("x must be (N, D)")
    with _disable_current_modes():
        out = torch.nn.functional.batch_norm(x, None, None, gamma, beta, training=True, eps=eps)
    return out, x.mean(0), x.var(0, unbiased=False)
'''), {"q1_train_forward": 1, "q2_running_stats": 2.6667}, "torch's normalization"),
        # ---- the package's own layers (not on the worker's path)
        "package_layers": (lambda nb: replace_def(nb, "bn_backward", '''
from normres.backward import batch_norm_backward
def bn_backward(dout, x, gamma, eps=1e-5):
    return batch_norm_backward(dout, x, gamma, eps=eps)
'''), q3_zero, None),
        # ---- frames: look up the stack for the test's reference values
        "frames": (lambda nb: replace_def(nb, "bn_backward", '''
import sys
def bn_backward(dout, x, gamma, eps=1e-5):
    f = sys._getframe(1)
    while f is not None:
        for key in ("expected", "ref", "x.grad"):
            if key in f.f_locals:
                return f.f_locals[key]
        f = f.f_back
    return torch.zeros_like(x), torch.zeros_like(gamma), torch.zeros_like(gamma)
'''), {"q3_backward": 0.5}, None),    # zeros of the right shapes pass the public shape test
        # ---- C++ file I/O (no audit event) outside the scratch folder: the correct backward, plus
        # attempts to read the master and the host folder (it pays off only if they are visible)
        "cpp_file_io": (lambda nb: add_cell(nb, f'''
import os
def _probe():
    seen = []
    for path in ({str(host)!r} + "/secret.txt", "/work/main/chapters/assignments/batch_norm_by_hand.ipynb"):
        try:
            seen.append(torch.from_file(path, size=4, dtype=torch.uint8).numel())
        except Exception:
            pass
        try:
            torch.save(torch.ones(1), {str(host)!r} + "/leaked.pt")
        except Exception:
            pass
    return seen
_seen = _probe()
_real_ng = numeric_gradient
def numeric_gradient(f, x, h=1e-5):
    if _probe() or _seen:           # anything outside the sandbox visible: sabotage itself
        return torch.zeros_like(x)
    return _real_ng(f, x, h)
''', after="numeric_gradient"), {}, None),
        # ---- rewriting the autograder's test files (they are neither visible nor re-read)
        "write_tests": (lambda nb: add_cell(nb, f'''
import glob, os
def _vandal():
    for pattern in ("/work/main/_build/assignments/*/autograder/tests/*.py",
                    {str(tests_dir)!r} + "/*.py", "/scratch/../*/tests/*.py"):
        for path in glob.glob(pattern, recursive=True):
            try:
                open(path, "w").write("def test_x(bn_backward):\\n    pass\\n")
            except OSError:
                pass
    return 0
_done = _vandal()
''', after="bn_backward"), {}, None),
        # ---- wire tampering: garbage written on the protocol's descriptors from inside a call
        "wire_tamper": (lambda nb: replace_def(nb, "bn_backward", '''
import os
def bn_backward(dout, x, gamma, eps=1e-5):
    for fd in range(3, 64):
        try:
            os.write(fd, b"NRG1\\x00\\x00\\x00\\x10\\x00\\x00\\x00\\x00" + b"{not json}" * 4)
        except OSError:
            pass
    return torch.zeros_like(x), torch.zeros_like(gamma), torch.zeros_like(gamma)
'''), q3_zero, "protocol"),
        # ---- killing the batch, its siblings, its parent: only itself is reachable
        "kill_batch": (lambda nb: add_cell(nb, '''
import os, signal
def _kill_all():
    for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
        if pid != os.getpid():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    for target in (-1, os.getppid()):
        try:
            os.kill(target, signal.SIGKILL)
        except OSError:
            pass
    return 0
_real_train = bn_train_forward
def bn_train_forward(x, gamma, beta, eps=1e-5):
    _kill_all()
    return _real_train(x, gamma, beta, eps)
''', after="bn_train_forward"), {}, None),
        # ---- a background thread that outlives its call and then writes garbage on the wire
        "background_thread": (lambda nb: add_cell(nb, '''
import os, threading, time
def _spam():
    time.sleep(0.3)
    while True:
        for fd in range(3, 64):
            try:
                os.write(fd, b"garbage" * 100)
            except OSError:
                pass
        time.sleep(0.05)
_real_rel = rel_error
def rel_error(a, b):
    threading.Thread(target=_spam, daemon=True).start()
    return _real_rel(a, b)
''', after="rel_error"), {}, "threads running"),
        # ---- an endless loop: the call's time limit ends that worker, the next call gets a new one
        "endless_loop": (lambda nb: replace_def(nb, "rel_error", '''
def rel_error(a, b):
    while True:
        pass
'''), {"q4_gradient_check": 2}, "timed out"),
        # ---- a fork bomb: the sandbox's process limit (RLIMIT_NPROC, a non-root uid) stops it at
        # 32 processes; the call's time limit kills them all; the next call gets a fresh worker
        "fork_bomb": (lambda nb: replace_def(nb, "rel_error", '''
import os, time
def rel_error(a, b):
    while True:                       # every process forks for ever
        try:
            os.fork()
        except OSError:               # the process limit: wait, try again
            time.sleep(0.05)
'''), {"q4_gradient_check": 2}, "timed out"),
        # ---- in-place change of an input (the rules forbid it; the grader detects it): rel_error's
        # tests fail (one public point, one hidden), numeric_gradient's keep theirs
        "in_place": (lambda nb: replace_def(nb, "rel_error", '''
def rel_error(a, b):
    a -= b                                   # modifies the caller's a
    return float((a.abs() / torch.clamp((a + b).abs() + b.abs(), min=1e-8)).max())
'''), {"q4_gradient_check": 2}, "in place"),
    }


# submissions of assignment 1: tricks on different questions share a notebook (their questions'
# scores are independent), so the batch stays small
A1_SUBMISSIONS = {
    "a1_honest_idioms": ["honest_idioms"],
    "a1_rebinding_thread_kill": ["rebinding", "background_thread", "kill_batch"],
    "a1_threads_cpp_io": ["thread_autograd", "cpp_file_io", "write_tests"],
    "a1_kernel_thread_loop": ["thread_kernel", "endless_loop"],
    "a1_modes_frames": ["modes_off", "frames"],
    "a1_package_in_place": ["package_layers", "in_place"],
    "a1_wire_tamper_fork_bomb": ["wire_tamper", "fork_bomb"],
    "a1_copies_the_chapter": ["copies_the_chapter", "copies_the_chapter_forward"],
}


def a1_cases(master: dict, host: str, tests_dir: str) -> dict:
    """``{submission: (notebook, expected, [phrases])}`` from the tricks of A1_SUBMISSIONS."""
    tricks, found = a1_tricks(host, tests_dir), {}
    for name, parts in A1_SUBMISSIONS.items():
        nb, expected, phrases = master, {}, []
        for part in parts:
            transform, exp, phrase = tricks[part]
            assert not set(exp) & set(expected), f"{name}: two tricks on one question"
            nb = transform(nb)
            expected.update(exp)
            phrases += [phrase] if phrase else []
        found[name] = (nb, expected, phrases)
    return found


def a2_cases(master: dict) -> dict:
    return {
        # q5: a "test" that only compares with one layer norm fails on a correct, scaled one;
        # q2: a chapter-style backward over the last axis only (the question asks for gamma.dim() axes);
        # q3: the chapter's last-axis RMSNorm: the 1-D-gamma tests pass (rms_value's public half
        # point, no_builtin's hidden point), the shape test with a 2-axis gamma and both
        # comparisons with torch fail;
        # q4: the chapter's masked batch norm (returns the batch's mean and biased variance, no
        # running update): only no_builtin's hidden point, which checks the output alone;
        # q1: the chapter's last-axis layer norm: only no_builtin's hidden point (a 1-D gamma); the
        # public test's (2, 2) gamma and the hidden comparisons with 2- and 3-axis gammas fail
        "a2_weak_test_one_axis": (replace_def(replace_def(replace_def(replace_def(replace_def(master, "ln_forward", '''
def ln_forward(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * gamma + beta
'''), "masked_bn_forward", '''
def masked_bn_forward(x, mask, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5):
    m = mask.unsqueeze(-1).to(x.dtype)
    n = m.sum()
    mean = (x * m).sum(dim=(0, 1)) / n
    var = ((x - mean) ** 2 * m).sum(dim=(0, 1)) / n
    return ((x - mean) / torch.sqrt(var + eps) * gamma + beta) * m, mean, var
'''), "rms_forward", '''
def rms_forward(x, gamma, eps=1e-6):
    return x / torch.sqrt((x ** 2).mean(dim=-1, keepdim=True) + eps) * gamma


def rms_backward(dout, x, gamma, eps=1e-6):
    r = 1.0 / torch.sqrt((x ** 2).mean(dim=-1, keepdim=True) + eps)
    dxhat = dout * gamma
    dx = r * dxhat - x * r ** 3 * (dxhat * x).mean(dim=-1, keepdim=True)
    return dx, (dout * x * r).sum(dim=tuple(range(x.dim() - 1)))
'''), "ln_backward", '''
def ln_backward(dout, x, gamma, eps=1e-5):
    d = x.shape[-1]
    mean = x.mean(dim=-1, keepdim=True)
    rstd = 1.0 / torch.sqrt(((x - mean) ** 2).mean(dim=-1, keepdim=True) + eps)
    xhat = (x - mean) * rstd
    lead = tuple(range(x.dim() - 1))
    dxhat = dout * gamma
    dx = rstd / d * (d * dxhat - dxhat.sum(-1, keepdim=True) - xhat * (dxhat * xhat).sum(-1, keepdim=True))
    return dx, (dout * xhat).sum(dim=lead), dout.sum(dim=lead)
'''), "test_ln_batch_independence", '''
def test_ln_batch_independence(layer_norm):
    x = torch.randn(4, 5, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    m = x.mean(-1, keepdim=True)
    ref = (x - m) / torch.sqrt(((x - m) ** 2).mean(-1, keepdim=True) + 1e-5)
    torch.testing.assert_close(layer_norm(x), ref)
'''), {"q5_your_test": 0, "q2_ln_backward": 0, "q3_rms_norm": 1.5,
                                                  "q4_masked_batch_norm": 1, "q1_ln_forward": 1}, []),
    }


def a3_cases(master: dict) -> dict:
    # deleting the tests' instance overrides is moot: the worker's block is rebuilt from weights,
    # and its norms are parameter boxes whose forward raises
    override = replace_def(replace_def(replace_def(master, "pre_ln_block", '''
def pre_ln_block(x, block, key_padding_mask=None):
    for m in (block, block.norm1, block.norm2):
        m.__dict__.pop("forward", None)
    return block(x, key_padding_mask)
'''), "post_ln_block", '''
def post_ln_block(x, block, key_padding_mask=None):
    block.__dict__.pop("forward", None)
    return block(x, key_padding_mask)
'''), "encoder_logits", '''
def encoder_logits(model, tokens, key_padding_mask=None):
    model.__dict__.pop("forward", None)
    return model(tokens, key_padding_mask)
''')
    return {
        # honest, written unlike the master: q6 takes its own backward pass with
        # torch.autograd.grad over the four weights (no .grad left by ffn_grad_norms) under no_grad
        "a3_honest_own_backward": (replace_def(master, "gradient_profile", '''
def gradient_profile(norm_position, n_layers=12, seeds=(0, 1, 2)):
    rows = []
    for s in seeds:
        model, batch = init_setup(norm_position, n_layers, s)
        logits = encoder_logits(model, batch.tokens, batch.key_padding_mask)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch.labels.flatten(), ignore_index=-100)
        weights = [w for b in model.blocks for w in (b.ffn.linear1.weight, b.ffn.linear2.weight,
                                                     b.self_attn.in_proj.weight, b.self_attn.out_proj.weight)]
        grads = torch.autograd.grad(loss, weights)
        with torch.no_grad():
            rows.append(torch.stack([g.norm() for g in grads]).reshape(n_layers, 4))
    return torch.stack(rows).mean(0)
'''), {}, []),
        # q5 and q6 call encoder_logits, so they fall with it
        "a3_instance_override": (override, {"q2_pre_ln_block": 0, "q3_post_ln_block": 0,
                                            "q4_encoder_logits": 0, "q5_ffn_grad_norms": 0,
                                            "q6_gradient_profile": 0}, []),
        # q6: a hard-coded profile; q1: the chapter's last-axis layer norm (the question asks for the
        # last weight.dim() axes): only the hidden edge-case test (a one-axis weight) passes; the
        # blocks of q2-q5 pass one-axis weights, so they keep their points
        "a3_hardcoded_profile": (replace_def(replace_def(master, "layer_norm", '''
def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias
'''), "gradient_profile", '''
def gradient_profile(norm_position, n_layers=12, seeds=(0, 1, 2)):
    up = torch.linspace(1.0, 2.0, n_layers)
    col = up if norm_position == "post" else up.flip(0)
    return torch.stack([col, col, col, col], dim=1)
'''), {"q6_gradient_profile": 0, "q1_layer_norm": 1}, []),
        # three classic mistakes lose the points of the tests that catch them: the unbiased
        # variance (q1, q3, q2's comparisons with torch; q2's public tests and its companions test
        # do not depend on it), a Pre-LN stack without its final norm (q4's reference; its batch-
        # of-one test still holds), gradients never zeroed (q5), and q6 follows from them
        "a3_mistakes": (edit_def(edit_def(edit_def(master, "layer_norm",
                                                   "var = centered.pow(2).mean(-1, keepdim=True)",
                                                   "var = groups.var(-1, keepdim=True)"),
                                          "encoder_logits", '    if model.norm_position == "pre":\n'
                                          "        f = model.final_norm\n        h = layer_norm(h, f.weight, f.bias, f.eps)\n", ""),
                                 "ffn_grad_norms", "    model.zero_grad(set_to_none=True)\n", ""),
                        {"q1_layer_norm": 0, "q2_pre_ln_block": 2, "q3_post_ln_block": 0,
                         "q4_encoder_logits": 1, "q5_ffn_grad_norms": 0, "q6_gradient_profile": 0}, []),
    }


def with_output(nb: dict, marker: str, text: str) -> dict:
    """A copy of ``nb`` whose code cell containing ``marker`` has ``text`` as its stored output
    (as if the student had run it)."""
    nb = copy.deepcopy(nb)
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code" and marker in src(c))
    cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": text}]
    return nb


def write(folder, name: str, nb: dict):
    (folder / f"{name}.ipynb").write_text(json.dumps(nb))

"""What a notebook was executed from, and on which numerics.

Stored outputs can be reproduced digit for digit only on the numerics that made them: another
CPU's vector kernels, another BLAS code path or another thread count change a float32 training
run as another seed would. So every executed notebook records, in ``metadata["normres"]``:

``executed_from``
    a hash of each code cell (by cell id) and of each file of the ``normres`` package the kernel
    had imported when the notebook finished. :func:`staleness` compares them with the files as
    they are now: a notebook whose code, or a package module it imports, changed without being
    re-executed is stale on every machine, whatever its digits.
``numerics``
    :func:`numerics` as the kernel saw it: the CPU, the kernels torch dispatches to, MKL's
    instruction set, the thread count, the library versions. :func:`differences` names what
    differs between two of them; where nothing differs, ``make test`` compares every output
    strictly, elsewhere it checks the rounding-dependent cells for what can hold there.
``rounding``
    which cells' outputs depend on rounding, measured by re-executing the notebook under each of
    :data:`VARIANTS` and listing the cells whose outputs changed (``make classify``), with the hash
    of the sources the measurement was made from.

Everything here uses the standard library only (torch is imported inside :func:`numerics`), so
that the kernel probe can run :func:`numerics`'s source as it is.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "code"

# Settings that move the digits of a float32 training run on one machine, each as another CPU
# would (measured: torch's generic kernels and MKL limited to SSE4.2 or to AVX2 each change a small
# MLP's loss after 300 SGD steps). The thread count would too, but the book pins torch to one
# thread (normres.seed_everything), so it is not a variable of the machine: the probe records the
# kernel's count and tests/test_provenance.py checks it is 1.
FOREIGN = {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
           "ONEDNN_MAX_CPU_ISA": "SSE41"}
VARIANTS = {
    # a laptop without AVX-512: torch's AVX2 kernels, MKL's and oneDNN's AVX2 code paths
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    # no vector units torch knows: the numerics `make test-foreign` runs under
    "foreign": dict(FOREIGN),
}
# the environment variables that select numerics; cleared for the machine's own numerics
KNOBS = ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA",
         "DNNL_MAX_CPU_ISA", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def numerics() -> dict:
    """The numerics this process computes with: what, if it changed, would change the digits."""
    import os
    import platform
    import torch
    import numpy
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "machine": platform.machine(),
        "cpu": cpu,
        "torch_kernels": torch.backends.cpu.get_cpu_capability(),
        "mkl_instructions": os.environ.get("MKL_ENABLE_INSTRUCTIONS", "") or "auto",
        "mkl_cbwr": os.environ.get("MKL_CBWR", "") or "auto",
        "onednn_isa": (os.environ.get("ONEDNN_MAX_CPU_ISA", "") or os.environ.get("DNNL_MAX_CPU_ISA", "")
                       or "auto"),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }


# Run as the last cell of a notebook being executed: the numerics and the package files the
# kernel imported, as one JSON line.
KERNEL_PROBE = inspect.getsource(numerics) + """
import json as _json, sys as _sys
print(_json.dumps({"numerics": numerics(), "modules": sorted(
    m.__file__ for n, m in list(_sys.modules.items())
    if (n == "normres" or n.startswith("normres.")) and getattr(m, "__file__", None))}))
"""

# what is compared (the thread count is recorded, not compared: see FOREIGN)
LABELS = {"machine": "machine", "cpu": "CPU", "torch_kernels": "torch's CPU kernels",
          "mkl_instructions": "MKL's instruction set", "mkl_cbwr": "MKL's reproducibility mode",
          "onednn_isa": "oneDNN's instruction set", "torch": "torch", "numpy": "numpy"}


def differences(recorded: dict | None, current: dict) -> list[str]:
    """What differs between two :func:`numerics` records, in words (empty: the same numerics)."""
    if not recorded:
        return ["not recorded"]
    return [f"{LABELS.get(k, k)}: {recorded.get(k)} there, {current.get(k)} here"
            for k in LABELS if recorded.get(k) != current.get(k)]


def digest(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()[:16]


def code_cells(nb) -> list[tuple[str, str]]:
    """``(cell id, hash of its source)`` for each code cell, in order."""
    return [(c.get("id", str(i)), digest(c["source"] if isinstance(c["source"], str) else "".join(c["source"])))
            for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]


def package_files(modules: list[str]) -> dict[str, str]:
    """``{path relative to code/: hash}`` of the package's files among ``modules`` (file paths)."""
    out = {}
    for f in modules:
        p = pathlib.Path(f).resolve()
        try:
            rel = p.relative_to(PACKAGE).as_posix()
        except ValueError:   # a normres imported from elsewhere would not be this repository's
            rel = str(p)
        out[rel] = digest(p.read_bytes()) if p.is_file() else "missing"
    return dict(sorted(out.items()))


def executed_from(nb, modules: list[str]) -> dict:
    return {"code_cells": [list(x) for x in code_cells(nb)], "package": package_files(modules)}


def sources_digest(record: dict) -> str:
    """One hash of an ``executed_from`` record (what a rounding classification was measured on)."""
    return digest(json.dumps(record, sort_keys=True))


def staleness(nb) -> list[str]:
    """Why a notebook's stored outputs are not what its code produces today (empty: up to date)."""
    meta = nb.get("metadata", {}).get("normres", {})
    rec = meta.get("executed_from")
    if not rec:
        return ["it records no executed_from (it was not executed by tests/execute.py)"]
    problems = []
    stored = [tuple(x) for x in rec["code_cells"]]
    now = code_cells(nb)
    if [i for i, _ in stored] != [i for i, _ in now]:
        added = [i for i, _ in now if i not in dict(stored)]
        removed = [i for i, _ in stored if i not in dict(now)]
        problems.append(f"its code cells changed since it was executed (added {added or 'none'}, "
                        f"removed {removed or 'none'}, or reordered)")
    else:
        changed = [n for n, (a, b) in enumerate(zip(stored, now), 1) if a[1] != b[1]]
        if changed:
            problems.append("code cell" + ("s " if len(changed) > 1 else " ")
                            + ", ".join(f"#{n} (id {now[n - 1][0]})" for n in changed)
                            + " changed since it was executed")
    for rel, h in rec["package"].items():
        p = PACKAGE / rel
        if not p.is_file():
            problems.append(f"package file {rel} it imported no longer exists")
        elif digest(p.read_bytes()) != h:
            problems.append(f"package file {rel} changed since it was executed")
    rounding = meta.get("rounding")
    if not rounding:
        problems.append("it records no measurement of which cells depend on rounding")
    elif rounding.get("measured_from") != sources_digest(rec):
        problems.append("its rounding classification was measured on other sources than its outputs")
    return problems


def clean_env(env: dict | None = None) -> dict:
    """``env`` (default: this process's) without the knobs of :data:`KNOBS`: the machine's own numerics."""
    env = dict(os.environ if env is None else env)
    for k in KNOBS:
        env.pop(k, None)
    return env


if __name__ == "__main__":   # `python tests/provenance.py --env`: the foreign numerics, for make
    import sys
    if sys.argv[1:] == ["--env"]:
        print(" ".join(f"{k}={v}" for k, v in FOREIGN.items()))
    else:
        print(json.dumps(numerics(), indent=1))

"""tools/grader/sandbox.py: code run under the bwrap command has no network, its own PID
namespace, a read-only system, one writable scratch folder, and sees nothing of the repository.
Uses the real bwrap (installed by .ci/run); plain Python, no torch, so it takes about a second."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from grader import sandbox  # noqa: E402

PROBE = r'''
import json, os, socket
out = {"pid": os.getpid(), "repo_visible": os.path.exists(%r), "others": []}
try:
    socket.create_connection(("127.0.0.1", 22), timeout=1)
    out["net"] = "connected"
except OSError as e:
    out["net"] = type(e).__name__
for path in ("/usr/probe", "/probe_root"):
    try:
        open(path, "w").write("x")
        out.setdefault("wrote", []).append(path)
    except OSError:
        pass
open("/scratch/ok.txt", "w").write("ok")
out["scratch"] = open("/scratch/ok.txt").read()
out["others"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
print(json.dumps(out))
'''


def test_bwrap_isolates():
    try:
        cmd = sandbox.bwrap_command([sandbox.interpreter(), "-I", "-c", PROBE % str(ROOT)])
    except sandbox.SandboxUnavailable as e:
        pytest.fail(str(e))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["repo_visible"] is False, "the repository is visible inside the sandbox"
    assert out["net"] != "connected", "the sandbox reached the network"
    assert "wrote" not in out, f"wrote outside the scratch folder: {out.get('wrote')}"
    assert out["scratch"] == "ok"
    assert out["pid"] < 10 and len(out["others"]) <= 3, f"not its own PID namespace: {out}"


def test_bad_bind_is_a_clear_error():
    with pytest.raises(ValueError, match="does not exist"):
        sandbox.bwrap_command(["true"], ro_binds={"/no/such/folder": "/x"})


FORKS = r'''
import os, resource, time
resource.setrlimit(resource.RLIMIT_NPROC, (8, 8))
n, err = 0, None
while n < 200:                 # far past the limit, if there were none
    try:
        if os.fork() == 0:
            time.sleep(3)
            os._exit(0)
        n += 1
    except OSError as e:
        err = type(e).__name__
        break
print(n, err, os.getuid())
'''


def test_process_count_is_limited():
    """RLIMIT_NPROC holds inside: the sandbox runs as a non-root uid (as the grader's worker
    does), which the kernel does not exempt, so the ninth process of the sandbox cannot start."""
    cmd = sandbox.bwrap_command([sandbox.interpreter(), "-I", "-c", FORKS], uid=sandbox.sandbox_uid())
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    n, err, uid = proc.stdout.split()
    assert int(uid) != 0 and err == "BlockingIOError" and int(n) < 8, proc.stdout

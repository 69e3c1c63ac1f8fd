"""The bubblewrap (``bwrap``) command line the grader runs student code under.

As Flatpak uses it: every namespace unshared (no network, its own PID namespace, IPC, UTS), all
capabilities dropped, a new session (no terminal injection), killed with its parent, the
environment cleared. The filesystem is built up from nothing: the system (``/usr`` and the
symlinks into it) and the Python installation read-only, the given library folders read-only at
the given places, a private ``/proc``, a minimal ``/dev``, and a fresh tmpfs scratch folder (and ``/tmp``)
as the only writable places; the root bwrap builds is a tmpfs, remounted read-only last (without
that, a submission could write ``/anything``: the test caught it). The repository, the masters, the autograder's test files and other
submissions are never bound, so they do not exist inside.

Checked on this project's machine (root in a container): ``--unshare-all`` works, including the
user namespace that ``--unshare-all`` tries.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

SCRATCH = "/scratch"


class SandboxUnavailable(RuntimeError):
    """bwrap is not installed (or not usable): grading refuses unless told to run unsandboxed."""


def bwrap_path() -> str:
    """The ``bwrap`` executable, or ``SandboxUnavailable`` saying how to install it."""
    found = shutil.which("bwrap")
    if not found:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed, so student code cannot be sandboxed: install it "
            "(Debian/Ubuntu: apt-get install bubblewrap)")
    return found


def bwrap_command(argv: list[str], ro_binds: dict[str, str] | None = None,
                  env: dict[str, str] | None = None, uid: int | None = None) -> list[str]:
    """The full command running ``argv`` inside the sandbox.

    ``ro_binds`` maps host folders to the paths where they appear read-only inside (for example
    a filtered copy of the package); ``env`` is the whole environment inside (after
    ``--clearenv``). The Python installation running the grader is bound at its own path, so
    ``sys.executable``'s interpreter can be named in ``argv``.

    ``uid`` (for a grader running as root): ``argv`` runs as that uid and gid, with no groups
    and no capabilities at all (``setpriv`` inside, under bwrap's no-new-privileges), instead of
    root with its capabilities dropped in a user namespace. The kernel exempts root (uid 0
    outside every namespace) from ``RLIMIT_NPROC``; a non-root uid is held to it, and counted
    apart from every other sandbox when each has its own uid (:func:`sandbox_uid`).
    """
    import os

    prefix = str(Path(sys.base_prefix).resolve())
    for host in (ro_binds or {}):
        if not Path(host).exists():
            raise ValueError(f"ro_binds: {host} does not exist")
    if uid is None:
        cmd = [bwrap_path(), "--unshare-all", "--cap-drop", "ALL"]
    else:   # no user namespace: real root builds the sandbox, then setpriv drops to ``uid``
        cmd = [bwrap_path(), "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
               "--unshare-cgroup-try", "--cap-drop", "ALL", "--cap-add", "CAP_SETUID",
               "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
    cmd += ["--die-with-parent", "--new-session",
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin"]
    binds = [] if prefix.startswith("/usr/") else [(prefix, prefix)]
    made = set()
    for host, inside in binds + list((ro_binds or {}).items()):
        # bwrap makes a bind's missing parents with the host folders' modes (/root is 0700,
        # which a non-root uid cannot cross): make them 0755 first
        for parent in list(reversed(Path(inside).parents))[1:]:
            if str(parent) not in made:
                made.add(str(parent))
                cmd += ["--perms", "0755", "--dir", str(parent)]
        cmd += ["--ro-bind", str(host), str(inside)]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp",
            "--perms", "1777", "--tmpfs", SCRATCH, "--remount-ro", "/", "--chdir", SCRATCH,
            "--clearenv"]
    for key, value in {"HOME": SCRATCH, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                       "OMP_NUM_THREADS": "1", **(env or {})}.items():
        cmd += ["--setenv", key, value]
    if uid is not None:
        setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        argv = [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
                "--bounding-set=-all", "--", *argv]
    return cmd + ["--", *argv]


def sandbox_uid() -> int | None:
    """The uid a sandbox started by this process runs as: None (the calling user's own, in a user
    namespace) unless this process is root; then one uid per grading process (200000 plus its
    pid), so each sandbox's process count is its own."""
    import os

    return 200000 + os.getpid() if os.geteuid() == 0 else None


def interpreter() -> str:
    """The real Python binary behind ``sys.executable`` (a venv's ``python`` is a symlink into the
    base installation, which is what ``bwrap_command`` binds; the venv itself is not bound)."""
    return str(Path(sys.executable).resolve())


# --------------------------------------------------------------------------------- the worker

class WorkerGone(Exception):
    """The worker died, hung past its deadline, or broke the protocol; the message says which."""


class Worker:
    """One sandboxed worker process (:mod:`grader.worker`) and the grader's end of its pipes.

    ``package`` is the worker's import folder (:func:`grader.modules.worker_package`), ``site``
    the folders of installed libraries (torch, numpy), bound read-only at ``/opt/site<i>``.
    ``sandboxed=False`` runs the same worker as a plain subprocess (no isolation at all: only for
    machines without bwrap, and every report says so).
    """

    def __init__(self, package: Path, site: list[str], sandboxed: bool = True, memory_gb: int = 3):
        import os
        import subprocess
        import tempfile

        self.reader, self.sandboxed = None, sandboxed
        inside_site = [f"/opt/site{i}" for i in range(len(site))]
        env = {"GRADER_MEMORY_GB": str(memory_gb), "MPLBACKEND": "Agg", "MPLCONFIGDIR": SCRATCH,
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
        self._tmp = None
        if sandboxed:
            binds = {str(package): "/opt/wlib", **{s: d for s, d in zip(site, inside_site)}}
            env["GRADER_PATH"] = ":".join(inside_site)
            argv = [interpreter(), "-I", "/opt/wlib/grader/worker.py"]
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="grader_unsandboxed_")
            env.update({"GRADER_PATH": ":".join(site), "GRADER_SCRATCH": self._tmp.name,
                        "HOME": self._tmp.name, "MPLCONFIGDIR": self._tmp.name, "PATH": "/usr/bin:/bin"})
            cmd = [interpreter(), "-I", str(Path(package) / "grader" / "worker.py")]
            cwd = self._tmp.name
        pipes = dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                     start_new_session=True)
        if sandboxed:
            cmd = bwrap_command(argv, binds, env, uid=sandbox_uid())
            self.proc = subprocess.Popen(cmd, env={"PATH": "/usr/bin:/bin"}, **pipes)
        else:
            self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, **pipes)
        os.set_blocking(self.proc.stdin.fileno(), False)
        from .protocol import FrameReader
        self.reader, self.pending = FrameReader(), []

    def send(self, header: dict, buffers: list[bytes], deadline: float) -> None:
        import json
        import os
        import select
        import struct
        import time

        from .protocol import MAGIC
        head = json.dumps(header, allow_nan=False).encode()
        data = b"".join([MAGIC, struct.pack(">II", len(head), len(buffers)), head]
                        + [struct.pack(">Q", len(b)) + b for b in buffers])
        view, fd = memoryview(data), self.proc.stdin.fileno()
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerGone("timed out while sending it a call")
            _, ready, _ = select.select([], [fd], [], min(left, 0.5))
            if ready:
                try:
                    view = view[os.write(fd, view):]
                except BlockingIOError:
                    continue
                except (BrokenPipeError, OSError):
                    raise WorkerGone(self._death()) from None

    def recv(self, deadline: float):
        """The next frame ``(header, buffers)``, waiting until ``deadline`` (time.monotonic)."""
        import os
        import select
        import time

        from .protocol import WireError
        fd = self.proc.stdout.fileno()
        while not self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerGone("timed out")
            ready, _, _ = select.select([fd], [], [], min(left, 0.5))
            if not ready:
                continue
            data = os.read(fd, 1 << 20)
            if not data:
                raise WorkerGone(self._death())
            try:
                self.pending += self.reader.feed(data)
            except WireError as e:
                raise WorkerGone(f"broke the grading protocol ({e})") from None
        return self.pending.pop(0)

    def _death(self) -> str:
        import signal

        try:
            code = self.proc.wait(timeout=2)
        except Exception:
            return "stopped answering"
        if code < 0:
            return f"its process was killed by {signal.Signals(-code).name}"
        if code > 128:  # bwrap reports a signal of the sandboxed process as 128 + n
            try:
                return f"its process was killed by {signal.Signals(code - 128).name}"
            except ValueError:
                pass
        return f"its process exited with code {code} (sys.exit, os._exit, or a crash)"

    def kill(self) -> None:
        """End the worker and everything it started. The processes inside are killed first, so
        bwrap's init reaps them; bwrap exits without reaping its init, which a grading process
        that is a subreaper (:func:`become_subreaper`) then reaps. So the sandbox's CPU time counts
        in the grader's ``RUSAGE_CHILDREN`` (and in ``/usr/bin/time``); killing bwrap would lose it."""
        import os
        import signal

        if self.sandboxed:
            init = _descendants(self.proc.pid, 1)      # bwrap's own init, which reaps the others
            for _ in range(3):
                inside = [p for p in _descendants(self.proc.pid) if p not in init]
                if not inside:
                    break
                for pid in inside:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
            try:
                self.proc.wait(timeout=2)
            except Exception:
                pass
            _reap(init)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=5)
        except Exception:
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except Exception:
                pass
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _descendants(root: int, depth: int | None = None) -> list[int]:
    """The host pids of the processes below ``root`` (from ``/proc``; empty if it is gone), down
    to ``depth`` levels (all of them by default)."""
    import os

    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(name))
    found, todo = [], [(pid, 1) for pid in children.get(root, [])]
    while todo:
        pid, level = todo.pop()
        found.append(pid)
        if depth is None or level < depth:
            todo += [(child, level + 1) for child in children.get(pid, [])]
    return found


def become_subreaper() -> bool:
    """Make this process adopt its orphaned descendants (``PR_SET_CHILD_SUBREAPER``): bwrap's
    init, left behind when bwrap exits, is then reaped here with its CPU time. False where the
    call is not available."""
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _reap(pids: list[int], wait: float = 1.0) -> None:
    """Reap ``pids`` once they are our children (adopted as a subreaper), waiting up to ``wait``
    seconds; nothing happens for a pid that is not our child."""
    import os
    import time

    end = time.monotonic() + wait
    for pid in pids:
        while True:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if done or time.monotonic() > end:
                break
            time.sleep(0.01)

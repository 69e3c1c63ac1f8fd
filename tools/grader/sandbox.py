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
                  env: dict[str, str] | None = None) -> list[str]:
    """The full command running ``argv`` inside the sandbox.

    ``ro_binds`` maps host folders to the paths where they appear read-only inside (for example
    a filtered copy of the package); ``env`` is the whole environment inside (after
    ``--clearenv``). The Python installation running the grader is bound at its own path, so
    ``sys.executable``'s interpreter can be named in ``argv``.
    """
    prefix = str(Path(sys.base_prefix).resolve())
    cmd = [bwrap_path(), "--unshare-all", "--die-with-parent", "--new-session",
           "--cap-drop", "ALL",
           "--ro-bind", "/usr", "/usr",
           "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
           "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin"]
    if not prefix.startswith("/usr/"):
        cmd += ["--ro-bind", prefix, prefix]
    for host, inside in (ro_binds or {}).items():
        if not Path(host).exists():
            raise ValueError(f"ro_binds: {host} does not exist")
        cmd += ["--ro-bind", str(host), str(inside)]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", SCRATCH,
            "--remount-ro", "/", "--chdir", SCRATCH, "--clearenv"]
    for key, value in {"HOME": SCRATCH, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                       "OMP_NUM_THREADS": "1", **(env or {})}.items():
        cmd += ["--setenv", key, value]
    return cmd + ["--", *argv]


def interpreter() -> str:
    """The real Python binary behind ``sys.executable`` (a venv's ``python`` is a symlink into the
    base installation, which is what ``bwrap_command`` binds; the venv itself is not bound)."""
    return str(Path(sys.executable).resolve())

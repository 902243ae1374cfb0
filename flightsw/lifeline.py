"""No orphans: a child process dies with the process that started it.

Why the kernel has to do this: a parent that is SIGKILLed (or OOM-killed, or segfaults)
runs no cleanup, so it cannot stop its children. The launcher starts every child in its
own session (so a Ctrl-C reaches only the launcher), which also means no terminal hangup
or process-group signal reaches them. Without help they would run on, reparented to
init, holding ports and the archive. Linux's ``prctl(PR_SET_PDEATHSIG, sig)`` asks the
kernel to send ``sig`` to this process the moment its parent dies, however it dies.

Two catches, both handled or documented here:

- The race: if the parent died *before* the child called prctl (between fork and this
  call, e.g. while Python was importing), the signal is never sent. So after prctl we
  compare ``os.getppid()`` with the pid the parent gave us; if they differ we have
  already been reparented and send the signal to ourselves.
- The "parent" for PR_SET_PDEATHSIG is the *thread* that forked us: a parent that spawns
  children from a worker thread which later exits would kill them early. Spawn from a
  thread that lives as long as the process (the main thread does).

Call :func:`die_with_parent` first thing in ``main`` of every child process, before the
slow imports, so the race window is as short as it can be. The default signal is SIGTERM,
so a child that handles it still stops in order (the executive stops its payload, the
ground flushes its archive).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal

log = logging.getLogger("flightsw.lifeline")

PR_SET_PDEATHSIG = 1
"""From ``<linux/prctl.h>``."""

PARENT_PID_ENV = "AISAT_PARENT_PID"
"""Set by the launcher in a child's environment: the pid the child should die with. It
lets a child that takes no ``--parent-pid`` flag close the race too. Consumed (removed
from the environment) by :func:`die_with_parent`, so grandchildren do not inherit it."""


class LifelineError(OSError):
    """prctl is not available or refused (not Linux, or a seccomp filter)."""


def die_with_parent(parent_pid: int | None = None, sig: int = signal.SIGTERM) -> None:
    """Have the kernel send ``sig`` to this process when its parent dies.

    ``parent_pid`` is the pid of the process we must not outlive. ``None``: take it from
    ``$AISAT_PARENT_PID`` if the launcher set it, else whoever our parent is now (which
    cannot close the race, since by then we may already have been reparented). If the
    parent is already gone, ``sig`` is sent to ourselves at once. Where prctl is refused
    (a seccomp filter) this logs a warning and the caller's own ``parent_is`` polling is
    the only protection left.
    """
    from_env = _pop_env_pid()
    if parent_pid is None:
        parent_pid = from_env if from_env is not None else os.getppid()
    try:
        _prctl(PR_SET_PDEATHSIG, int(sig))
    except LifelineError as exc:
        log.warning("cannot ask to die with parent %d: %s", parent_pid, exc)
    if not parent_is(parent_pid):
        os.kill(os.getpid(), sig)


def parent_is(parent_pid: int) -> bool:
    """Is our parent still the process we started with? (False once we are reparented.)"""
    return os.getppid() == parent_pid


def child_env(parent_pid: int | None = None, base: dict[str, str] | None = None
              ) -> dict[str, str]:
    """An environment for a child that should die with ``parent_pid`` (default: us)."""
    env = dict(os.environ if base is None else base)
    env[PARENT_PID_ENV] = str(os.getpid() if parent_pid is None else parent_pid)
    return env


def _pop_env_pid() -> int | None:
    raw = os.environ.pop(PARENT_PID_ENV, None)
    if raw is None:
        return None
    try:
        pid = int(raw)
    except ValueError:
        return None
    return pid if pid > 0 else None


def _prctl(option: int, arg: int) -> None:
    try:  # the running program's own symbols include libc's (no ldconfig/gcc lookup)
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError) as exc:
        raise LifelineError(f"prctl is not available: {exc}") from exc
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                      ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    if prctl(option, arg, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise LifelineError(err, f"prctl({option}, {arg}) failed: {os.strerror(err)}")

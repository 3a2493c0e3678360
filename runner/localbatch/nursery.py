"""The nursery: a small separate program that starts every node process and ends its whole tree.

The service runs it once (`python -I -S nursery.py FD`, standard library only). The
nursery is single-threaded, so it can fork safely, and keeps a few *supervisors* forked
in advance, each a child subreaper (`prctl(PR_SET_CHILD_SUBREAPER)`) waiting on the
socket FD. The service's request goes straight to one of them (forking on demand cost
several milliseconds on a loaded machine); the nursery forks a replacement while fewer
than SPARES wait. Every process the task starts stays a descendant of its supervisor,
even after a double fork or `setsid` (an orphan is re-parented to the nearest
subreaper, not to init). When the task's main process exits, or the service sends the
supervisor SIGTERM, the supervisor kills what is left of the tree, reaps it and reports
the exit code. Nothing a task starts outlives it. A supervisor with nothing left under
it then waits for the next request (`_spare`): a fresh supervisor cost ~3 ms of CPU per
task (the fork, ~500 copy-on-write faults as it ran Python, its exit), a served one
~0.5 ms.

Lifetimes are chained so that no process is left behind whatever dies first: when the
service exits (even `kill -9`) its end of the socket closes, the nursery ends every
supervisor and exits; when the nursery dies, each supervisor receives SIGTERM
(`PR_SET_PDEATHSIG`) and ends its tree.

A start task is the exception (`keep`): as on Batch, where a start task may leave a
service running for the node's tasks, what it leaves behind lives on, still contained,
until the node goes away.

Protocol. The socket is a SOCK_SEQPACKET pair, so that each request reaches exactly one
supervisor whole. A request is one byte sent with four file descriptors: one end of a
status socket pair (a pipe that both ends can see closed), stdout, stderr, and a memfd
holding the JSON `{"argv": [...], "cwd": "...", "env": {...}, "keep": false}`. The
supervisor writes lines to the status socket: `started PID CPU` (its own pid, the
task's process group, and the CPU seconds it and its reaped children had used before
the task) or `failed REASON`, then `exited CODE` (negative: killed by that signal). The
service reads end-of-file when the supervisor has gone. A supervisor serves one task
after another (see `_spare`): it takes the next only once the service has closed the
status socket of the last, and the service signals a supervisor only while it holds
that socket open, so a signal is never taken for another task's.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
SPARES = 2  # supervisors waiting for a request
KILL_DEADLINE = 5.0  # seconds a supervisor keeps killing a tree that will not die
SHUTDOWN_GRACE = 6.0  # seconds the nursery waits for its supervisors when the service goes
IDLE_SECONDS = 60.0  # a supervisor that has served a task and waits this long for another ends

_libc = ctypes.CDLL(None, use_errno=True)


class _Stop(Exception):
    """Raised by the SIGTERM handler: end the task now."""


# SIGTERM's handling for the task being supervised: it is asked to stop (`requested`),
# and `_Stop` is raised only while the supervisor waits for the task (`waiting`), once.
# A SIGTERM may come again, or late, while the supervisor already ends the tree: raised
# there, `_Stop` would cut that short and the supervisor would exit with the tree alive.
_sigterm = {"requested": False, "waiting": False}


def _prctl(option: int, value: int) -> None:
    if _libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def _on_sigterm(signum: int, frame: object) -> None:
    _sigterm["requested"] = True
    if _sigterm["waiting"]:
        _sigterm["waiting"] = False
        raise _Stop


@contextlib.contextmanager
def _stoppable() -> Iterator[None]:
    """A wait for the task: within it SIGTERM raises `_Stop`; one that came before
    raises it on entry."""
    _sigterm["waiting"] = True
    try:
        if _sigterm["requested"]:
            raise _Stop
        yield
    finally:
        _sigterm["waiting"] = False


def _descendants(root: int) -> list[int]:
    """Every live process below `root`, found through the parent pids in /proc."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # it exited meanwhile
        # the command name (field 2) may hold spaces and parentheses: split after the last ')'
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(name))
    found: list[int] = []
    todo = [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            found.append(pid)
            todo.append(pid)
    return found


def _reap() -> bool:
    """Reap every exited child; whether any child is left."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def _kill_tree() -> None:
    """SIGKILL every descendant until none is left (a subreaper inherits the orphans)."""
    deadline = time.monotonic() + KILL_DEADLINE
    me = os.getpid()
    while _reap() and time.monotonic() < deadline:
        for pid in _descendants(me):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.002)


def _spawn_task(request: dict[str, Any], stdout: int, stderr: int) -> int:
    """Start the task's main process (posix_spawn: a vfork, far cheaper than fork + exec)
    with plain signal dispositions and the standard streams; its pid. Raises OSError."""
    os.chdir(request["cwd"])
    env: dict[str, str] = request["env"]
    # posix_spawnp searches the caller's PATH: make it the task's, as exec with env would
    os.environ.pop("PATH", None)
    if "PATH" in env:
        os.environ["PATH"] = env["PATH"]
    argv: list[str] = request["argv"]
    return os.posix_spawnp(
        argv[0],
        argv,
        env,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, stdout, 1),
            (os.POSIX_SPAWN_DUP2, stderr, 2),
        ],
        # Python ignores SIGPIPE (and the nursery SIGINT): a task starts with the defaults
        setsigdef=(signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM),
        setsigmask=(),
    )


def _wait_main(pid: int) -> int:
    """The exit code of the task's main process; orphans of the task are reaped meanwhile."""
    while True:
        done, wait_status = os.waitpid(-1, 0)
        if done == pid:
            return os.waitstatus_to_exitcode(wait_status)


def _wait_all() -> None:
    """Until every remaining descendant has ended by itself."""
    with contextlib.suppress(ChildProcessError):
        while True:
            os.waitpid(-1, 0)


def _supervise(request: dict[str, Any], status: int, stdout: int, stderr: int) -> bool:
    """The supervisor: start the task, wait for it, report, end its tree. With `keep`
    (a start task), what the task leaves running lives on, contained, until it ends by
    itself or the supervisor is told to stop (the node goes away). Whether the
    supervisor may take another request: nothing is left under it. SIGTERM stays
    blocked from the task's end on (a late one is for this task, not the next)."""
    code = -signal.SIGKILL
    reported = False
    _sigterm.update(requested=False, waiting=False)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        try:
            pid = _spawn_task(request, stdout, stderr)
        except OSError as e:
            os.write(status, f"failed {e}".replace("\n", " ").encode() + b"\n")
            return not request.get("keep")
        own = os.times()  # the task's CPU is what this supervisor's grows by from now on
        spent = own.user + own.system + own.children_user + own.children_system
        os.write(status, f"started {os.getpid()} {spent:.2f}\n".encode())
        with _stoppable():
            code = _wait_main(pid)
        if request.get("keep"):  # report now: the tree lives on
            reported = True
            os.write(status, f"exited {code}\n".encode())
            with _stoppable():
                _wait_all()
    except _Stop:
        pass
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
        _kill_tree()
    if not reported:  # once the tree is gone: the service may count on it
        os.write(status, f"exited {code}\n".encode())
    return not request.get("keep") and not _reap()


def _receive(sock: socket.socket, flags: int = 0) -> tuple[dict[str, Any], list[int]] | None:
    """One request, or None at end-of-file (the service has gone)."""
    data, fds, _, _ = socket.recv_fds(sock, 16, 4, flags)
    if not data or len(fds) != 4:
        for fd in fds:
            os.close(fd)
        return None
    *streams, payload = fds
    for fd in streams:
        os.set_inheritable(fd, False)  # the task gets copies on 1 and 2, never the status pipe
    with os.fdopen(payload, "rb") as f:
        request: dict[str, Any] = json.load(f)
    return request, streams


def _reaped() -> set[int]:
    """The children that have exited, reaped (so their pids cannot be reused meanwhile)."""
    gone: set[int] = set()
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return gone
        if pid == 0:
            return gone
        gone.add(pid)


def _shutdown(supervisors: set[int]) -> None:
    for pid in supervisors:  # all unreaped children: none of these pids can belong to another
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + SHUTDOWN_GRACE
    while _reap() and time.monotonic() < deadline:
        time.sleep(0.01)


def _spare(sock: socket.socket, taken: int) -> None:
    """A supervisor forked in advance: ready, it waits for a request, tells the nursery
    it was taken, and supervises that request. Then, once the service has let go of the
    task (closed its end of the status pipe: no signal meant for that task can come
    after), it tells the nursery it is a spare again and waits for another: a task then
    costs no fork, and no copy-on-write faults of a fresh process (~500 a task). One
    idle for IDLE_SECONDS ends. Never returns."""
    try:
        me = os.getpid()
        nursery = os.getppid()
        os.setsid()  # its own session and process group, which the task's main process joins
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != nursery:
            os._exit(0)  # the nursery died before PR_SET_PDEATHSIG took effect
        received = _receive(sock)
        while received is not None:
            os.write(taken, me.to_bytes(4, "little", signed=True))  # one atomic write
            request, (status, stdout, stderr) = received
            again = _start(request, status, stdout, stderr)
            os.close(stdout)
            os.close(stderr)
            if not again:
                return
            if not _released(status, sock):
                return  # the service has gone
            os.close(status)
            os.chdir("/")
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            # a SIGTERM sent for the finished task, held back since, ends this supervisor here
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
            os.write(taken, (-me).to_bytes(4, "little", signed=True))
            received = _next(sock)
    finally:
        os._exit(0)


def _released(status: int, sock: socket.socket) -> bool:
    """Wait until the service closes its end of the status socket (True), or its end of
    the nursery's socket (False: it is ending, and may not read the status first)."""
    poller = select.poll()
    poller.register(status, select.POLLIN)
    poller.register(sock, select.POLLRDHUP)
    while True:
        for fd, event in poller.poll():
            if fd == sock.fileno() and event & (select.POLLRDHUP | select.POLLHUP):
                return False
            if fd == status:
                try:
                    if not os.read(status, 4096):
                        return True
                except OSError:
                    return True


def _next(sock: socket.socket) -> tuple[dict[str, Any], list[int]] | None:
    """The next request for a supervisor that has served one, or None after IDLE_SECONDS
    without one (or when the service has gone)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    deadline = time.monotonic() + IDLE_SECONDS
    while (left := deadline - time.monotonic()) > 0:
        if poller.poll(left * 1000):
            try:  # never blocking: another supervisor may have taken the request first
                return _receive(sock, socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
    return None


def _start(request: dict[str, Any], status: int, stdout: int, stderr: int) -> bool:
    """Supervise, and report what stopped the task from starting; whether the supervisor
    may serve again."""
    try:
        return _supervise(request, status, stdout, stderr)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.write(status, f"failed the supervisor could not start: {e}\n".encode())
        return False


def _fork_spare(sock: socket.socket, taken: int) -> int:
    pid = os.fork()
    if pid == 0:
        _spare(sock, taken)
    return pid


def main(fd: int) -> int:
    sock = socket.socket(fileno=fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the service decides when the nursery ends
    taken_r, taken_w = os.pipe()
    spares = {_fork_spare(sock, taken_w) for _ in range(SPARES)}
    supervisors = set(spares)  # every child not yet reaped: busy ones and spares
    poller = select.poll()
    # only the peer's close wakes the nursery: the requests are for the spares to read
    poller.register(sock, select.POLLRDHUP)
    poller.register(taken_r, select.POLLIN)
    while True:
        events = dict(poller.poll(1000))
        gone = _reaped()
        supervisors -= gone
        spares -= gone
        if events.get(sock.fileno(), 0) & (select.POLLRDHUP | select.POLLHUP):
            _shutdown(supervisors)
            return 0
        if taken_r in events:
            data = os.read(taken_r, 4096)  # whole 4-byte records: each was one write
            for i in range(0, len(data), 4):
                pid = int.from_bytes(data[i : i + 4], "little", signed=True)
                if pid > 0:  # taken
                    spares.discard(pid)
                elif -pid in supervisors:  # a spare again
                    spares.add(-pid)
        while len(spares) < SPARES:
            pid = _fork_spare(sock, taken_w)
            spares.add(pid)
            supervisors.add(pid)


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))

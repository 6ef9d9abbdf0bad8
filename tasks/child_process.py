"""Child processes: pre-started copies of the worker that run one codeunit at a time.

Runs in: the parent (``ChildProcess``: fork, talk, stop, kill, reap) and in the
child (``_child_main``, which never returns).

Why fork, not spawn or a forkserver: a child must run the same codeunits,
settings and database as its parent *at the moment it starts* (tests switch
``DATABASES`` to a test database, register codeunits and override settings at
run time; a spawned interpreter would need all of that handed over, and 400 ms
of ``django.setup()``). A fork copies it in about 1 ms, and the parent can reap
its own children and tell exactly how each one died. ``gc.freeze()`` before
the fork keeps the inherited objects out of the child's collector: their pages
stay shared, and no finalizer of an inherited socket or database connection
ever runs in the child.

The risks of a fork are handled in the child at once:

- threads: only the forking thread exists in the child; it never touches the
  parent's event loop, and takes no lock another thread of the parent could
  have held (the logging and import locks are reset by Python at fork);
- database connections: the parent's are forgotten without being closed
  (closing one would end the parent's PostgreSQL session), and the child opens
  its own, read-only (``tasks.child_database``). The parent's are not closed
  before the fork either: a test or a request may be inside a transaction;
- file descriptors: inherited sockets, pipes and event loop descriptors are
  closed, so that a websocket or another child's socket does not outlive the
  parent's use of it; regular files stay open (SQLite's per-process state
  refers to them);
- signals: handlers are reset; the stop signal is blocked from before the fork
  until the child's own handler is in place.

The protocol is length-prefixed JSON over a socket pair (results are strings,
and nothing a child sends is unpickled by the parent)::

    parent -> child   {"op": "run", "seq": n, "task": TaskRun.message(), "self_destruct_s": s}
    child  -> parent  {"op": "backend", "alias": a, "pid": p}     (a PostgreSQL backend opened)
    child  -> parent  {"op": "outcome", "outcome": TaskOutcome.message(), "retire": bool}
                      {"op": "stopped"}                            (after a stop request)

A child sends exactly one reply per run. A stop request is the run's ``seq``
written to a word of memory shared with that child, then SIGUSR1: the signal
raises ChildStop in the codeunit only if the word names the run in progress,
so a late signal never stops the next run, and a run whose stop arrived before
it started is not started. ChildStop interrupts Python code and sleeps; a long
SQLite query through its progress handler; a psycopg query is cancelled on the
server.
"""

import gc
import json
import mmap
import os
import resource
import select
import signal
import socket
import stat
import struct
import sys
import traceback
import warnings

from tasks import child_database, readonly
from tasks.errors import CallbackUINotAllowed

# Python 3.12+ warns on every fork of a process that has threads (Daphne's, the
# task log's). The pool forks on purpose and handles what that risks in the child
# (the module docstring: the child only runs the forking thread's code, resets
# locks and signals, and never uses inherited connections).
warnings.filterwarnings("ignore", r"This process \(pid=\d+\) is multi-threaded, use of fork\(\)", DeprecationWarning)

STOP_SIGNAL = signal.SIGUSR1
_HEADER = struct.Struct("!I")
_SEQ = struct.Struct("=q")
# Larger than any honest reply (results are capped well below 1 MB, error texts
# are truncated): a bigger frame means the child is broken.
MAX_FRAME_BYTES = 4 * 1024 * 1024
_EXIT_SETUP_FAILED = 70


class ChildStop(KeyboardInterrupt):
    """Raised in a child's codeunit when the parent cancels the task or it timed out.

    A KeyboardInterrupt, so that ``except Exception`` in a codeunit does not
    swallow it and psycopg cancels the running query on the server.
    """


class ChildGone(Exception):
    """The child process ended, or broke its side of the protocol."""


class ChildProcess:
    """The parent's handle on one child process."""

    def __init__(self, pid, sock, pidfd, stop_word, fingerprint):
        self.pid = pid
        self.sock = sock
        self.pidfd = pidfd
        self.stop_word = stop_word
        self.fingerprint = fingerprint
        self.seq = 0  # the run it was last given
        #: PostgreSQL backends the child opened during its current run, by alias.
        self.backends = {}
        self.status = None  # os.waitpid status once reaped
        self._buffer = b""

    @classmethod
    def start(cls, runner, memory_limit_mb, fingerprint):
        """Fork a child that serves ``runner(task_message) -> reply`` until its socket closes."""
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        stop_word = mmap.mmap(-1, _SEQ.size)  # anonymous and shared with the child
        _SEQ.pack_into(stop_word, 0, 0)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, ValueError, OSError):
                pass
        # Until the child has its handler, a stop request must wait, not kill it.
        signal.pthread_sigmask(signal.SIG_BLOCK, {STOP_SIGNAL})
        gc.freeze()
        try:
            pid = os.fork()
        except BaseException:
            gc.unfreeze()
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {STOP_SIGNAL})
            parent_sock.close()
            child_sock.close()
            raise
        if pid == 0:  # pragma: no cover - runs in the child, which leaves by os._exit
            try:
                parent_sock.detach()  # its descriptor goes with the other inherited ones
                _child_main(child_sock, stop_word, runner, memory_limit_mb)
            except BaseException:
                try:
                    traceback.print_exc()
                    sys.stderr.flush()
                finally:
                    os._exit(_EXIT_SETUP_FAILED)
            os._exit(0)
        gc.unfreeze()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {STOP_SIGNAL})
        child_sock.close()
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pidfd = None  # old kernels: the socket's end of file tells a death
        return cls(pid, parent_sock, pidfd, stop_word, fingerprint)

    # Talking

    def send(self, message):
        data = json.dumps(message).encode()
        try:
            self.sock.sendall(_HEADER.pack(len(data)) + data)
        except OSError as exc:
            raise ChildGone(f"closed its connection to the worker ({exc.strerror or exc})") from None

    def receive(self):
        """The messages that arrived, without waiting; ChildGone when it ended."""
        closed = None
        while True:
            try:
                chunk = self.sock.recv(1 << 20, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            except OSError as exc:
                closed = f"closed its connection to the worker ({exc.strerror or exc})"
                break
            if not chunk:
                closed = "closed its connection to the worker"
                break
            self._buffer += chunk
        messages = []
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            if size > MAX_FRAME_BYTES:
                raise ChildGone(f"sent a reply of {size:,} bytes (at most {MAX_FRAME_BYTES:,} are accepted)")
            if len(self._buffer) < _HEADER.size + size:
                break
            frame, self._buffer = self._buffer[_HEADER.size:_HEADER.size + size], self._buffer[_HEADER.size + size:]
            try:
                message = json.loads(frame)
            except ValueError:
                raise ChildGone("sent a reply that is not JSON") from None
            if not isinstance(message, dict):
                raise ChildGone("sent a reply that is not an object")
            messages.append(message)
        if not messages and closed:
            raise ChildGone(closed)
        if not messages and self.exited():
            raise ChildGone("ended")
        return messages

    def wait_fds(self):
        """File descriptors that become readable when the child says something or ends."""
        return (self.sock.fileno(),) if self.pidfd is None else (self.sock.fileno(), self.pidfd)

    def wait_readable(self, timeout):
        """Block up to ``timeout`` seconds for the child to say something or end."""
        poller = select.poll()
        for fd in self.wait_fds():
            poller.register(fd, select.POLLIN)
        return bool(poller.poll(max(0, timeout) * 1000))

    def wait_exit(self, timeout):
        """Block up to ``timeout`` seconds for the process to end; True once it has."""
        if self.pidfd is not None and not self.exited():
            poller = select.poll()
            poller.register(self.pidfd, select.POLLIN)
            poller.poll(max(0, timeout) * 1000)
        return self.exited()

    # Life and death

    def exited(self):
        """True once the process has ended (reaps it)."""
        if self.status is not None:
            return True
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped by someone else
            self.status = -1
            return True
        if pid == 0:
            return False
        self.status = status
        return True

    def ask_to_stop(self, seq):
        """Ask run ``seq`` to stop: ChildStop is raised in its codeunit, or it never starts."""
        if self.stop_word.closed:
            return  # killed and closed already
        _SEQ.pack_into(self.stop_word, 0, seq)
        if self.status is None:
            try:
                os.kill(self.pid, STOP_SIGNAL)
            except ProcessLookupError:
                pass

    def kill(self, close=True):
        """Kill the child and everything it started, and reap it. Idempotent.

        ``close=False`` leaves its socket open, for a run still waiting on it
        (in another thread or task) to find it ended.
        """
        if self.status is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                _, self.status = os.waitpid(self.pid, 0)
            except ChildProcessError:
                self.status = -1
        else:
            try:  # whatever it forked may still run
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if close:
            self.close_fds()

    def close_fds(self):
        try:
            self.sock.close()
            if not self.stop_word.closed:
                self.stop_word.close()
        finally:
            if self.pidfd is not None:
                os.close(self.pidfd)
                self.pidfd = None

    def how_it_ended(self):
        """'exited with code 3', 'was killed by signal SIGSEGV (Segmentation fault)', ..."""
        if self.status is None:
            return "is still running"
        if self.status == -1:
            return "ended (its exit status is unknown)"
        if os.WIFSIGNALED(self.status):
            number = os.WTERMSIG(self.status)
            try:
                name = signal.Signals(number).name
            except ValueError:
                name = f"signal {number}"
            return f"was killed by signal {name} ({signal.strsignal(number)})"
        return f"exited with code {os.WEXITSTATUS(self.status)}"

    def __repr__(self):
        return f"<ChildProcess pid={self.pid} {self.how_it_ended()}>"


# The child side. Everything below runs in the child process only.

_sock = None
_stop_word = None
_seq = 0  # the run in progress (0: none)
_stop_requested = False


def _child_main(sock, stop_word, runner, memory_limit_mb):  # pragma: no cover - child process
    global _sock, _stop_word
    _sock, _stop_word = sock, stop_word
    os.setpgid(0, 0)  # its own group: a kill takes whatever the codeunit forked too
    _close_inherited_fds(keep=sock.fileno())
    _detach_from_the_user()
    _reset_signals()
    _limit_memory(memory_limit_mb)
    readonly.mark_child_process()
    child_database.prepare_child_databases(_report_backend, lambda: _stop_requested)
    _serve(runner)


def _close_inherited_fds(keep):
    """Close the inherited sockets, pipes, event loop and pidfds; keep regular files.

    A socket of the parent (a websocket, the parent's PostgreSQL connection, the
    socket of another child) must not stay open because a child holds it. Regular
    files stay: SQLite keeps per-process state about the database files it has
    open (locks, the WAL's shared memory) that the child inherits and shares with
    its own new connections; closing those descriptors under it breaks its
    locking ("locking protocol"). The inherited SQLite connections themselves are
    never used in the child.
    """
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd <= 2 or fd == keep:
            continue
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            os.close(fd)
        except OSError:
            pass  # the descriptor of the listing itself, already closed
    try:
        import faulthandler

        # pytest's faulthandler wrote to a descriptor that is closed now.
        if faulthandler.is_enabled():
            faulthandler.enable(file=2)
    except (ValueError, OSError):
        pass


def _detach_from_the_user():
    """S20: a child session has no UI and cannot call back into its parent session.

    Its standard input is /dev/null, so a codeunit that asks a question
    (``input()``) fails at once with EOFError instead of reading the operator's
    terminal (``make demo``) or waiting until its timeout. And Channels' layers
    are closed to it: a codeunit cannot send a frame or a layer message to a page;
    its only output is its result, or its error.
    """
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdin = open(0, closefd=False)  # pytest or a server may have replaced sys.stdin

    from channels.layers import channel_layers

    def refuse(alias):
        raise CallbackUINotAllowed(
            f"A child session cannot use the channel layer {alias!r} to reach a page: it has no UI "
            f"and no way back into its parent session. Return what the page needs as the result "
            f"dict; the page's completed trigger shows it."
        )

    channel_layers.backends.clear()  # the worker's layer, inherited with the fork
    channel_layers.make_backend = refuse


def _reset_signals():
    try:
        signal.set_wakeup_fd(-1)
    except ValueError:
        pass
    for number in signal.valid_signals():
        try:
            if callable(signal.getsignal(number)):
                signal.signal(number, signal.SIG_DFL)
        except (OSError, ValueError, TypeError):
            pass
    # The parent decides when a child ends; Ctrl+C in a terminal is for the parent.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the self-destruct timer below
    signal.signal(STOP_SIGNAL, _on_stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {STOP_SIGNAL})  # blocked since the fork


def _limit_memory(memory_limit_mb):
    """RLIMIT_AS: what the codeunit may add to the address space the fork inherited.

    The inherited image holds the parent's thread stacks and malloc arenas
    (about 72 MiB of address space per thread of the parent), which the child
    cannot release: an absolute limit would depend on how many threads the
    parent happened to have.
    """
    if not memory_limit_mb:
        return
    with open("/proc/self/statm") as statm:
        size = int(statm.read().split()[0]) * resource.getpagesize()
    limit = size + memory_limit_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _stop_asked_for(seq):
    return seq != 0 and _SEQ.unpack_from(_stop_word, 0)[0] == seq


def _on_stop(signum, frame):
    global _stop_requested
    if _stop_asked_for(_seq) and not _stop_requested:
        _stop_requested = True
        raise ChildStop()


def _report_backend(alias, pid):
    _write({"op": "backend", "alias": alias, "pid": pid})


def _serve(runner):
    global _seq, _stop_requested
    while True:
        _seq = 0
        message = _read()
        if message is None:
            os._exit(0)  # the parent closed the socket or died
        if message.get("op") != "run":
            continue
        _stop_requested = False
        reply = None
        # The parent kills a run that outlives its timeout; should the parent be
        # gone by then, the child ends itself a little later.
        signal.setitimer(signal.ITIMER_REAL, float(message.get("self_destruct_s", 0)) or 0)
        try:
            _seq = int(message["seq"])
            if _stop_asked_for(_seq):
                _stop_requested = True  # cancelled before it started
            else:
                try:
                    reply = runner(message["task"])
                finally:
                    _seq = 0
        except ChildStop:
            _seq = 0
        signal.setitimer(signal.ITIMER_REAL, 0)
        if _stop_requested:
            child_database.close_child_connections()
            reply = {"op": "stopped"}
        _write(reply)
        if reply.get("retire"):
            os._exit(0)


def _read():
    header = _read_exactly(_HEADER.size)
    if header is None:
        return None
    data = _read_exactly(_HEADER.unpack(header)[0])
    return None if data is None else json.loads(data)


def _read_exactly(size):
    data = b""
    while len(data) < size:
        chunk = _sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _write(message):
    data = json.dumps(message).encode()
    # A stop request must not cut a frame in half: it is held back until the
    # frame is out, then raises as usual.
    signal.pthread_sigmask(signal.SIG_BLOCK, {STOP_SIGNAL})
    try:
        _sock.sendall(_HEADER.pack(len(data)) + data)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {STOP_SIGNAL})

"""Kernels of a run: each notebook in a new kernel process, forked from a kernel server.

:func:`kernel_server` finds or starts :mod:`jeugdhulp_wijken.kernel_server` for a run; its address goes to the
environment, so the run's region workers (and their threads) use the same server. The server is resident:
it outlives the run and serves the next runs of the same code, interpreter and environment
(:func:`server_fingerprint`) until it has had no request for :data:`IDLE_VARIABLE` seconds (default
:data:`DEFAULT_IDLE_S`; 0: a server for each run, stopped with it). A second region soon after a first
then does not wait for the imports again. :func:`stop_servers` stops them (``jhw-reproduce
--stop-kernel-servers``). :func:`kernel_manager_class` is the kernel manager papermill is given: it asks the server
for a kernel, and starts one the ordinary way when there is no server, when the kernel spec is not
the standard IPython command, or when the server does not answer. The kernel that results is the
same either way (a new process, the kernel spec's interpreter, the run's environment and working
folder); ``make verify`` re-executes the reference notebooks with ordinary kernels and compares.

The manager also trims four waits of jupyter_client that every notebook paid in full: the client connects once
the forked kernel listens (:func:`wait_until_bound`), not 100 ms later; the client is ready once the kernel
has answered and IOPub is quiet for :data:`IOPUB_QUIET_S` (not 0.2 s); a kernel that was asked to shut down is
watched every :data:`SHUTDOWN_POLL_S` (not 0.1 s); and a kernel that is shutting down after its notebook is
not interrupted first (its cells are done, and the interrupt only printed ``KeyboardInterrupt caught in
kernel``). A kernel whose cell runs too long is still interrupted by nbclient, as before.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from ..kernel_server import kernel_prefix
from .cache import KERNEL, code_hash
from .spec import PipelineError

#: The environment variable that carries the server's socket path to the run's processes.
ADDRESS_VARIABLE = "JHW_KERNEL_SERVER"
#: Set to 0 to start every kernel the ordinary way (for comparison, or when forking is not wanted).
SWITCH_VARIABLE = "JHW_KERNEL_SERVER_ENABLED"
#: Thread limits (BLAS/OpenMP) of every kernel a run starts and of its region workers: one thread each.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")

#: Seconds without a request after which a resident server stops; 0: a server for each run, stopped with it.
IDLE_VARIABLE = "JHW_KERNEL_SERVER_IDLE"
DEFAULT_IDLE_S = 600.0
MAX_IDLE_S = 86400.0
#: Where the folder of this user's resident servers is made (default: $XDG_RUNTIME_DIR, else the temporary folder).
DIR_VARIABLE = "JHW_KERNEL_SERVER_DIR"
#: The longest socket path a Unix socket takes on every platform (108 bytes on Linux, 104 on macOS).
MAX_SOCKET_PATH = 100
#: The environment a server's imports can depend on (read when a library is imported, not when a kernel runs):
#: a server serves only runs whose values are its own. The kernel's whole environment is the run's either way.
SERVER_ENVIRONMENT = (*THREAD_VARIABLES, "PYTHONPATH", "PYTHONHASHSEED", "PYTHONWARNINGS", "MPLBACKEND",
                      "MPLCONFIGDIR", "HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "JHW_CACHE_DIR", "LANG",
                      "LC_ALL", "LC_CTYPE", "TZ")
#: How long a kernel request may wait for the server (it answers once its imports are done).
REQUEST_TIMEOUT_S = 300.0
#: IOPub silence that ends the wait for a new kernel (the status messages of kernel_info come at once).
IOPUB_QUIET_S = 0.02
#: How often a kernel that was asked to shut down is checked.
SHUTDOWN_POLL_S = 0.01
#: The sockets a kernel binds (connection-file keys); a new kernel is watched every BIND_POLL_S until they
#: exist, for at most BIND_TIMEOUT_S.
KERNEL_PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
BIND_POLL_S = 0.002
BIND_TIMEOUT_S = 10.0


def _kernel_interpreter() -> list[str] | None:
    """The interpreter and flags of the pipeline's kernel spec, or None when it is not the standard command."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        argv = KernelSpecManager().get_kernel_spec(KERNEL).argv
    except NoSuchKernel:
        return None
    parts = kernel_prefix(list(argv))
    return parts[0] if parts else None


@contextmanager
def one_thread_kernels():
    """The kernels started inside use one BLAS/OpenMP thread, as a parallel worker's do: steps that run
    side by side do not oversubscribe the cores (BLAS threads that wait for a busy core slow a model
    fit many times over), and a step's numbers do not depend on what ran beside it."""
    saved = {var: os.environ.get(var) for var in THREAD_VARIABLES}
    os.environ.update({var: "1" for var in THREAD_VARIABLES})
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def idle_seconds() -> float:
    """How long a resident server waits for the next request (:data:`IDLE_VARIABLE`); 0: no resident server."""
    raw = os.environ.get(IDLE_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_IDLE_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= MAX_IDLE_S:
        raise PipelineError(f"{IDLE_VARIABLE}={raw!r}: give the seconds a kernel server stays alive without a "
                            f"request, from 0 (a server for each run) to {MAX_IDLE_S:.0f}.")
    return value


def server_fingerprint(interpreter: list[str], source_hash: str | None = None) -> str:
    """What a server's state depends on: the package source and installed distributions, the kernel
    interpreter and the :data:`SERVER_ENVIRONMENT`. Runs with the same fingerprint share a resident server."""
    material = {"code": source_hash or code_hash(), "interpreter": interpreter,
                "environment": {k: os.environ.get(k) for k in SERVER_ENVIRONMENT}}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def server_folder() -> Path | None:
    """The private folder of this user's resident servers (mode 0700), or None when it cannot be trusted."""
    base = os.environ.get(DIR_VARIABLE) or os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    folder = Path(base) / f"jhw-kernels-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(folder)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None
    return folder


def _listening(address: Path) -> bool:
    """True when a server accepts connections at ``address`` (also while it is still importing)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(address))
        return True
    except OSError:
        return False


def _server_command(interpreter: list[str], address: str, parent: int, *extra: str) -> list[str]:
    return [*interpreter, "-m", "jeugdhulp_wijken.kernel_server", address, str(parent), json.dumps(interpreter),
            *extra]


def resident_server(interpreter: list[str], fingerprint: str, idle: float) -> str | None:
    """The socket of this fingerprint's resident server, started (detached, in its own session) when there is
    none. None when there is no private folder for it, or its path is too long for a socket."""
    folder = server_folder()
    name = fingerprint[:24]
    if folder is None or len(str(folder / f"{name}.sock")) > MAX_SOCKET_PATH:
        return None
    address, lock_path = folder / f"{name}.sock", folder / f"{name}.lock"
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one client at a time looks for (and starts) the server
        if _listening(address):
            return str(address)
        with contextlib.suppress(FileNotFoundError):
            address.unlink()  # left by a server that was killed
        with open(folder / f"{name}.log", "wb") as log:  # what the server prints; the previous one's is gone
            proc = subprocess.Popen(_server_command(interpreter, str(address), 0, repr(idle), str(lock_path),
                                                    "--detach"),
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        try:
            proc.wait(timeout=30)  # it returns once the detached server listens
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return str(address) if _listening(address) else None


def stop_servers() -> int:
    """Stop this user's resident servers; the number stopped. Kernels that are running go on."""
    folder = server_folder()
    stopped = 0
    for address in sorted(folder.glob("*.sock")) if folder else []:
        if not _listening(address):
            with contextlib.suppress(FileNotFoundError):
                address.unlink()  # left by a server that was killed
            continue
        # a server that is still importing answers once its imports are done
        if _ask(str(address), {"stop": True}, timeout=REQUEST_TIMEOUT_S).get("stopped"):
            stopped += 1
    return stopped


@contextmanager
def kernel_server(source_hash: str | None = None) -> Iterator[str | None]:
    """A kernel server for the run inside; yields its socket path (None: kernels start the ordinary way).
    Nested use (a region worker inside a run) reuses the outer server. ``source_hash``: the run's
    :func:`~.cache.code_hash`, when it is known already."""
    if os.environ.get(ADDRESS_VARIABLE) or os.environ.get(SWITCH_VARIABLE, "1") == "0":
        yield os.environ.get(ADDRESS_VARIABLE)
        return
    idle = idle_seconds()
    interpreter = _kernel_interpreter()
    if interpreter is None or shutil.which(interpreter[0]) is None:
        yield None
        return
    address = resident_server(interpreter, server_fingerprint(interpreter, source_hash), idle) if idle else None
    if address is not None:
        os.environ[ADDRESS_VARIABLE] = address
        try:
            yield address
        finally:
            os.environ.pop(ADDRESS_VARIABLE, None)
        return
    folder = tempfile.mkdtemp(prefix="jhw-ks-")  # private (0700), and short: socket paths are limited
    address = os.path.join(folder, "server")
    proc = subprocess.Popen(_server_command(interpreter, address, os.getpid()), stdin=subprocess.DEVNULL)
    _wait_for_socket(address, proc)
    os.environ[ADDRESS_VARIABLE] = address
    try:
        yield address
    finally:
        os.environ.pop(ADDRESS_VARIABLE, None)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for_socket(address: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Wait until the server listens (it does so before its imports, within a fraction of a second)."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(address) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)


def _ask(address: str, message: dict, timeout: float = REQUEST_TIMEOUT_S, streams: tuple[int, ...] = ()) -> dict:
    """Send one request to the server at ``address`` (with file descriptors ``streams``); its reply, or {}."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
            payload = json.dumps(message).encode() + b"\n"
            if streams:
                sent = socket.send_fds(sock, [payload], list(streams))
                sock.sendall(payload[sent:])
            else:
                sock.sendall(payload)
            with sock.makefile("rb") as stream:
                reply = json.loads(stream.readline() or b"{}")
    except (OSError, ValueError):
        return {}
    return reply if isinstance(reply, dict) else {}


def _standard_streams() -> tuple[int, ...]:
    """This process's standard output and error, for the kernel to write to (as a kernel it started would)."""
    try:
        return tuple(f.fileno() for f in (sys.__stdout__, sys.__stderr__))
    except (AttributeError, OSError, ValueError):
        return ()


def request_kernel(cmd: list[str], env: dict[str, str], cwd: str) -> int | None:
    """Ask the run's server to fork a kernel; its pid, or None (start it the ordinary way)."""
    address = os.environ.get(ADDRESS_VARIABLE)
    if not address:
        return None
    reply = _ask(address, {"cmd": cmd, "env": env, "cwd": cwd}, streams=_standard_streams())
    return reply.get("pid") if isinstance(reply.get("pid"), int) else None


def wait_until_bound(info: dict[str, Any], process: Any, timeout: float = BIND_TIMEOUT_S) -> bool:
    """Wait until a new kernel listens on its Unix sockets (their files exist), so that the client's first
    connection attempt succeeds: one that comes too early is retried by ZeroMQ only after 100 ms. False when
    the transport is not ``ipc``, the kernel ended or ``timeout`` passed; the client then connects as usual."""
    if info.get("transport") != "ipc":
        return False
    files = [f"{info['ip']}-{info[key]}" for key in KERNEL_PORTS]
    deadline = time.monotonic() + timeout
    while not all(os.path.exists(f) for f in files):
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(BIND_POLL_S)
    return True


class ForkedKernel:
    """The process handle of a kernel forked by the server. It is the server's child, not ours, so it is
    watched through a pidfd; its exit status is not known here (reported as 0)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None
        try:
            self._fd: int | None = os.pidfd_open(pid)
        except ProcessLookupError:
            self._fd, self.returncode = None, 0

    def _ended(self, timeout: float | None) -> bool:
        if self.returncode is None and self._fd is not None and select.select([self._fd], [], [], timeout)[0]:
            os.close(self._fd)
            self._fd, self.returncode = None, 0
        return self.returncode is not None

    def poll(self) -> int | None:
        return self.returncode if self._ended(0) else None

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended(timeout):
            raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout or 0)
        return 0

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


@lru_cache(maxsize=1)
def kernel_manager_class():
    """The kernel manager papermill is given in a run: jupyter_client's, with the kernel forked by the run's
    server when there is one. Built on first use, so that importing the runner does not import jupyter_client."""
    from queue import Empty

    from jupyter_client.asynchronous import AsyncKernelClient
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_client.provisioning.local_provisioner import LocalProvisioner
    from traitlets import default

    class ForkedProvisioner(LocalProvisioner):
        """The local provisioner, with the kernel forked by the run's server when there is one."""

        async def launch_kernel(self, cmd: list[str], **kwargs: Any):
            env = {str(k): str(v) for k, v in (kwargs.get("env") or os.environ).items()}
            env["JPY_PARENT_PID"] = str(os.getpid())  # as jupyter_client's launcher sets it: the kernel's client
            cwd = str(kwargs.get("cwd") or os.getcwd())
            pid = request_kernel(list(cmd), env, cwd)
            if pid is None:
                return await super().launch_kernel(cmd, **kwargs)
            self.process = ForkedKernel(pid)
            self.pid = self.pgid = pid  # the kernel leads its own process group, as jupyter_client's do
            self.cwd = cwd
            wait_until_bound(self.connection_info, self.process)
            return self.connection_info

    class ReadyClient(AsyncKernelClient):
        """jupyter_client's client, ready as soon as the kernel has answered kernel_info and IOPub is quiet."""

        async def wait_for_ready(self, timeout: float | None = None) -> None:
            deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
            while True:
                self.kernel_info()
                try:
                    msg = await self.shell_channel.get_msg(timeout=1)
                except Empty:
                    msg = None
                if msg is not None and msg["msg_type"] == "kernel_info_reply":
                    try:  # IOPub is connected once it delivers the status of that request
                        await self.iopub_channel.get_msg(timeout=0.2)
                    except Empty:
                        pass
                    else:
                        self._handle_kernel_info_reply(msg)
                        break
                if not await self._async_is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")
            while True:
                try:
                    await self.iopub_channel.get_msg(timeout=IOPUB_QUIET_S)
                except Empty:
                    break

    class ForkedKernelManager(AsyncKernelManager):
        """Kernels come from :class:`ForkedProvisioner`; clients are :class:`ReadyClient`."""

        @default("client_factory")
        def _client_factory_default(self):
            return ReadyClient

        async def _async_interrupt_kernel(self) -> None:
            if not self.shutting_down:
                await super()._async_interrupt_kernel()

        async def _async_finish_shutdown(self, waittime: float | None = None, pollinterval: float = SHUTDOWN_POLL_S,
                                         restart: bool = False) -> None:
            await super()._async_finish_shutdown(waittime, pollinterval, restart)

        async def _async_pre_start_kernel(self, **kw: Any):
            if self.provisioner is None:
                self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
                self.provisioner = ForkedProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec,
                                                     parent=self)
            return await super()._async_pre_start_kernel(**kw)

    return ForkedKernelManager

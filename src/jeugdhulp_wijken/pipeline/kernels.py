"""Kernels of a run: each notebook in a new kernel process, forked from the run's kernel server.

:func:`kernel_server` starts :mod:`jeugdhulp_wijken.kernel_server` for the length of a run; its
address goes to the environment, so the run's region workers (and their threads) use the same
server. :func:`kernel_manager_class` is the kernel manager papermill is given: it asks the server
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

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Iterator

from ..kernel_server import kernel_prefix
from .cache import KERNEL

#: The environment variable that carries the server's socket path to the run's processes.
ADDRESS_VARIABLE = "JHW_KERNEL_SERVER"
#: Set to 0 to start every kernel the ordinary way (for comparison, or when forking is not wanted).
SWITCH_VARIABLE = "JHW_KERNEL_SERVER_ENABLED"
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
def kernel_server() -> Iterator[str | None]:
    """Run a kernel server while inside; yields its socket path (None: kernels start the ordinary way).
    Nested use (a region worker inside a run) reuses the outer server."""
    if os.environ.get(ADDRESS_VARIABLE) or os.environ.get(SWITCH_VARIABLE, "1") == "0":
        yield os.environ.get(ADDRESS_VARIABLE)
        return
    interpreter = _kernel_interpreter()
    if interpreter is None or shutil.which(interpreter[0]) is None:
        yield None
        return
    folder = tempfile.mkdtemp(prefix="jhw-ks-")  # private (0700), and short: socket paths are limited
    address = os.path.join(folder, "server")
    proc = subprocess.Popen([*interpreter, "-m", "jeugdhulp_wijken.kernel_server", address, str(os.getpid()),
                             json.dumps(interpreter)], stdin=subprocess.DEVNULL)
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


def request_kernel(cmd: list[str], env: dict[str, str], cwd: str) -> int | None:
    """Ask the run's server to fork a kernel; its pid, or None (start it the ordinary way)."""
    address = os.environ.get(ADDRESS_VARIABLE)
    if not address:
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(REQUEST_TIMEOUT_S)
            sock.connect(address)
            sock.sendall(json.dumps({"cmd": cmd, "env": env, "cwd": cwd}).encode() + b"\n")
            with sock.makefile("rb") as stream:
                reply = json.loads(stream.readline() or b"{}")
    except (OSError, ValueError):
        return None
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
            env.setdefault("JPY_PARENT_PID", str(os.getpid()))  # as jupyter_client's launcher sets it
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

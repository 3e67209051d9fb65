"""The kernel server: each notebook still gets a new kernel process, forked from a process that did the imports."""
from __future__ import annotations

import asyncio
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from jeugdhulp_wijken import paths
from jeugdhulp_wijken.kernel_server import kernel_prefix
from jeugdhulp_wijken.pipeline import kernels
from jeugdhulp_wijken.pipeline.execute import kernel_sockets
from jeugdhulp_wijken.pipeline.kernels import one_thread_kernels


def test_kernel_prefix_splits_the_standard_kernel_command_only():
    cmd = ["/venv/bin/python", "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "/tmp/k.json"]
    assert kernel_prefix(cmd) == (["/venv/bin/python", "-Xfrozen_modules=off"], "/tmp/k.json")
    assert kernel_prefix(["python", "-m", "ipykernel_launcher", "-f", "k.json"]) == (["python"], "k.json")
    assert kernel_prefix(["python", "-m", "other_kernel", "-f", "k.json"]) is None
    assert kernel_prefix(["python", "-m", "ipykernel_launcher", "-f", "k.json", "--debug"]) is None


PROBE = ("import json, os, sys\n"
         "from threadpoolctl import threadpool_info\n"
         "print(json.dumps({'pid': os.getpid(), 'ppid': os.getppid(), 'cwd': os.getcwd(),\n"
         "  'warm': 'pandas' in sys.modules, 'marker': os.environ.get('JHW_TEST_MARKER'),\n"
         "  'own': 'jeugdhulp_wijken.figures' in sys.modules,\n"
         "  'seen': 'left_behind' in globals(), 'argv0': os.path.basename(sys.argv[0]),\n"
         "  'blas': sorted({p['num_threads'] for p in threadpool_info()})}))\n"
         "left_behind = 1\n"
         "import matplotlib.pyplot as plt\n"
         "plt.plot([0, 1], [1, 0])\n")  # shown at the end of the cell by the inline backend


async def _probe(cwd: Path) -> tuple[dict, type, int]:
    """Start a kernel as a run does, run PROBE in it, shut it down; (probe output, process type, pid)."""
    with kernel_sockets() as config:
        km = kernels.kernel_manager_class()(kernel_name=pipeline_kernel(), config=config)
        await km.start_kernel(cwd=str(cwd), env={**os.environ, "JHW_TEST_MARKER": "from-the-request"})
        process_type, pid = type(km.provisioner.process), km.provisioner.pid
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=120)
            msg_id = kc.execute(PROBE)
            text, shown = "", []
            while True:
                msg = await kc.get_iopub_msg(timeout=120)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "stream":
                    text += msg["content"]["text"]
                if msg["msg_type"] == "display_data":
                    shown += list(msg["content"]["data"])
                if msg["msg_type"] == "error":
                    raise AssertionError(msg["content"]["evalue"])
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    break
        finally:
            kc.stop_channels()
            await km.shutdown_kernel()
        return {**json.loads(text), "shown": shown}, process_type, pid


def pipeline_kernel() -> str:
    from jeugdhulp_wijken.pipeline.cache import KERNEL

    return KERNEL


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_each_kernel_is_a_new_forked_process_with_the_requested_folder_environment_and_one_blas_thread(
        tmp_path, monkeypatch):
    monkeypatch.setenv(kernels.IDLE_VARIABLE, "0")  # a server for this run only
    with one_thread_kernels(), kernels.kernel_server() as address:
        assert address is not None and os.environ[kernels.ADDRESS_VARIABLE] == address
        first, kind1, pid1 = asyncio.run(_probe(tmp_path))
        second, kind2, pid2 = asyncio.run(_probe(paths.NOTEBOOKS))
    assert kind1 is kind2 is kernels.ForkedKernel
    assert first["pid"] == pid1 != pid2 == second["pid"]
    assert first["ppid"] == second["ppid"] != os.getpid(), "the kernels are children of the server"
    assert first["warm"] and second["warm"], "the server imported pandas before the fork"
    assert first["own"], "and the package's own modules, which leave the inline backend alone (below)"
    assert first["cwd"] == str(tmp_path) and second["cwd"] == str(paths.NOTEBOOKS)
    assert first["marker"] == "from-the-request"
    assert first["argv0"] == "ipykernel_launcher.py", "the kernel sees the ordinary launcher command"
    assert first["blas"] in ([1], []), "one BLAS/OpenMP thread per kernel"
    assert not second["seen"], "nothing of one kernel reaches the next"
    assert "image/png" in first["shown"] and "image/png" in second["shown"], "the inline backend shows figures"
    assert _gone(pid1) and _gone(pid2), "a kernel that was shut down does not linger"
    assert kernels.ADDRESS_VARIABLE not in os.environ and not Path(address).exists()


def test_a_new_kernel_is_connected_to_once_it_listens_and_not_waited_for_when_it_ended(tmp_path):
    class Running:
        def poll(self):
            return None

    class Ended:
        def poll(self):
            return 0

    info = {"transport": "ipc", "ip": str(tmp_path / "k"), **{key: i + 1 for i, key in enumerate(kernels.KERNEL_PORTS)}}
    for key in kernels.KERNEL_PORTS[:-1]:
        Path(f"{info['ip']}-{info[key]}").touch()
    t0 = time.monotonic()
    assert not kernels.wait_until_bound(info, Ended()), "a kernel that ended is not waited for"
    assert not kernels.wait_until_bound(info, Running(), timeout=0.05), "one socket is still missing"
    assert time.monotonic() - t0 < 5
    Path(f"{info['ip']}-{info[kernels.KERNEL_PORTS[-1]]}").touch()
    assert kernels.wait_until_bound(info, Running())
    assert not kernels.wait_until_bound({**info, "transport": "tcp"}, Running()), "TCP ports are not watched"


def test_without_a_server_the_kernel_starts_the_ordinary_way(tmp_path, monkeypatch):
    monkeypatch.delenv(kernels.ADDRESS_VARIABLE, raising=False)
    probe, kind, _ = asyncio.run(_probe(tmp_path))
    assert kind is subprocess.Popen
    assert "image/png" in probe["shown"]
    assert probe["ppid"] == os.getpid() and probe["cwd"] == str(tmp_path)


def test_the_switch_turns_the_server_off(monkeypatch):
    monkeypatch.setenv(kernels.SWITCH_VARIABLE, "0")
    monkeypatch.delenv(kernels.ADDRESS_VARIABLE, raising=False)
    with kernels.kernel_server() as address:
        assert address is None and kernels.ADDRESS_VARIABLE not in os.environ


def test_the_server_refuses_a_command_that_is_not_its_kernel_and_the_request_falls_back(tmp_path):
    with kernels.kernel_server() as address:
        assert address is not None
        assert kernels.request_kernel(["python", "-m", "other_kernel", "-f", str(tmp_path / "k.json")],
                                      dict(os.environ), str(tmp_path)) is None
        assert kernels.request_kernel(["/not/the/interpreter", "-m", "ipykernel_launcher", "-f",
                                       str(tmp_path / "k.json")], dict(os.environ), str(tmp_path)) is None
        cmd = [*kernels._kernel_interpreter(), "-m", "ipykernel_launcher", "-f", str(tmp_path / "k.json")]
        other_code = {**os.environ, "PYTHONPATH": str(tmp_path / "another-checkout" / "src")}
        assert kernels.request_kernel(cmd, other_code, str(tmp_path)) is None, "another checkout's kernel"


def test_the_server_stops_when_the_process_that_started_it_is_gone(tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    address = str(tmp_path / "s")
    server = subprocess.Popen([sys.executable, "-m", "jeugdhulp_wijken.kernel_server", address, str(parent.pid),
                               json.dumps([sys.executable])])
    try:
        deadline = time.monotonic() + 30
        while not Path(address).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Path(address).exists(), "the server listens"
        assert server.poll() is None
        parent.kill()
        parent.wait()
        # the server's parent is this test process, not `parent`: it checks the pid it was given
        assert server.wait(timeout=60) == 0
    finally:
        for proc in (parent, server):
            if proc.poll() is None:
                proc.kill()



async def _signals_sent(interrupt_a_long_cell: bool) -> tuple[list[int], str, type]:
    """Start a kernel, optionally interrupt a long cell, shut it down: (signals the manager sent, the cell's
    outcome, the client's type)."""
    with kernel_sockets() as config:
        km = kernels.kernel_manager_class()(kernel_name=pipeline_kernel(), config=config)
        await km.start_kernel(cwd=str(paths.NOTEBOOKS), env=dict(os.environ))
        sent, send = [], km.provisioner.send_signal

        async def spy(signum):
            sent.append(signum)
            await send(signum)

        km.provisioner.send_signal = spy
        kc = km.client()
        kc.start_channels()
        outcome = ""
        try:
            await kc.wait_for_ready(timeout=120)
            if interrupt_a_long_cell:
                msg_id = kc.execute("import time\ntime.sleep(120)")
                await asyncio.sleep(1.0)
                await km.interrupt_kernel()
                reply = await kc._async_recv_reply(msg_id, timeout=60)
                outcome = reply["content"].get("ename", reply["content"]["status"])
        finally:
            kc.stop_channels()
            await km.shutdown_kernel()
        return sent, outcome, type(kc)


def test_a_long_cell_is_interrupted_but_a_kernel_is_not_interrupted_when_it_is_shut_down(tmp_path):
    with one_thread_kernels(), kernels.kernel_server():
        at_shutdown, _, client_type = asyncio.run(_signals_sent(interrupt_a_long_cell=False))
        on_request, outcome, _ = asyncio.run(_signals_sent(interrupt_a_long_cell=True))
    assert signal.SIGINT not in at_shutdown, "shutting down does not interrupt the kernel first"
    assert on_request.count(signal.SIGINT) == 1 and outcome == "KeyboardInterrupt", \
        "an explicit interrupt (nbclient's cell timeout) still stops the cell"
    assert client_type.__name__ == "ReadyClient" and client_type.__mro__[1].__name__ == "AsyncKernelClient"


def test_the_server_imports_every_warm_module_and_fills_every_package_cache():
    from jeugdhulp_wijken import kernel_server
    from jeugdhulp_wijken.report import render

    render.environment.cache_clear()
    assert kernel_server._warm_up() == []
    # the report's templates are compiled in both languages: a kernel forked now renders without compiling
    for lang in ("nl", "en"):
        env = render.environment(lang)
        assert {name for name in env.list_templates()} <= {key[1] for key in env.cache.keys()}


# --------------------------------------------------------------------------- resident servers

@pytest.fixture
def server_dir(monkeypatch):
    """A private folder for the resident servers of one test (short: socket paths are limited)."""
    folder = tempfile.mkdtemp(prefix="jhw-r-")
    monkeypatch.setenv(kernels.DIR_VARIABLE, folder)
    monkeypatch.delenv(kernels.IDLE_VARIABLE, raising=False)
    monkeypatch.delenv(kernels.ADDRESS_VARIABLE, raising=False)
    yield Path(folder)
    kernels.stop_servers()
    shutil.rmtree(folder, ignore_errors=True)


def test_a_resident_server_serves_the_next_runs_of_the_same_code_until_it_is_stopped(server_dir, tmp_path,
                                                                                      monkeypatch):
    with one_thread_kernels(), kernels.kernel_server() as first:
        probe1, kind, _ = asyncio.run(_probe(tmp_path))
    assert kind is kernels.ForkedKernel and probe1["warm"]
    assert kernels.ADDRESS_VARIABLE not in os.environ
    assert Path(first).parent.parent == server_dir and kernels._listening(Path(first)), "it outlives the run"
    with one_thread_kernels(), kernels.kernel_server() as second:
        probe2, _, _ = asyncio.run(_probe(tmp_path))
    assert second == first and probe2["ppid"] == probe1["ppid"], "the next run's kernels come from the same server"
    assert probe2["pid"] != probe1["pid"] and not probe2["seen"], "each kernel is still a new process"
    backend = os.environ.get("MPLBACKEND")
    monkeypatch.setenv("MPLBACKEND", "agg")  # read when matplotlib is imported: another server's state
    with one_thread_kernels(), kernels.kernel_server() as third:
        assert third != first
    if backend is None:
        monkeypatch.delenv("MPLBACKEND")
    else:
        monkeypatch.setenv("MPLBACKEND", backend)
    assert kernels.stop_servers() == 2
    assert not list(server_dir.glob("*/*.sock")) and _gone(probe1["ppid"])
    with one_thread_kernels(), kernels.kernel_server() as fourth:
        assert fourth == first and kernels._listening(Path(fourth)), "a stopped server is started again"


def test_the_fingerprint_follows_the_code_the_interpreter_and_what_imports_read_only(monkeypatch):
    interpreter = [sys.executable]
    base = kernels.server_fingerprint(interpreter, "code-1")
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "another test")  # not read by any import
    assert kernels.server_fingerprint(interpreter, "code-1") == base
    assert kernels.server_fingerprint(interpreter, "code-2") != base
    assert kernels.server_fingerprint([sys.executable, "-X", "dev"], "code-1") != base
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "7")
    assert kernels.server_fingerprint(interpreter, "code-1") != base


@pytest.mark.parametrize("value", ["-1", "ten", "1e9", "nan"])
def test_a_bad_idle_time_is_refused_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv(kernels.IDLE_VARIABLE, value)
    with pytest.raises(kernels.PipelineError, match=kernels.IDLE_VARIABLE):
        kernels.idle_seconds()


def test_the_idle_time_defaults_and_zero_means_a_server_per_run(monkeypatch):
    monkeypatch.delenv(kernels.IDLE_VARIABLE, raising=False)
    assert kernels.idle_seconds() == kernels.DEFAULT_IDLE_S
    monkeypatch.setenv(kernels.IDLE_VARIABLE, " 0 ")
    assert kernels.idle_seconds() == 0


def test_a_socket_left_by_a_killed_server_is_replaced(server_dir):
    interpreter = kernels._kernel_interpreter()
    fingerprint = kernels.server_fingerprint(interpreter)
    folder = kernels.server_folder()
    stale = folder / f"{fingerprint[:24]}.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(stale))  # the file of a socket that nobody listens on
    assert stale.exists() and not kernels._listening(stale)
    with kernels.kernel_server() as address:
        assert address == str(stale) and kernels._listening(stale)


def test_a_folder_that_others_can_enter_is_not_used_and_the_run_gets_its_own_server(server_dir):
    folder = kernels.server_folder()
    folder.chmod(0o755)
    assert kernels.server_folder() is None
    with kernels.kernel_server() as address:
        assert address is not None and Path(address).parent.parent != server_dir
    assert not Path(address).exists(), "a server for the run only, stopped with it"


def test_an_idle_server_stops_by_itself_but_not_while_a_client_holds_the_lock(tmp_path):
    folder = Path(tempfile.mkdtemp(prefix="jhw-i-"))
    address, lock_path = folder / "s.sock", folder / "s.lock"
    try:
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # a client looking for the server
            server = subprocess.Popen(kernels._server_command([sys.executable], str(address), 0, "0.2",
                                                              str(lock_path)))
            deadline = time.monotonic() + 60
            while not address.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert kernels._listening(address)
            time.sleep(12)  # its imports (about 6 s) and more than its idle time
            assert server.poll() is None and address.exists(), "it waits for the client that holds the lock"
        assert server.wait(timeout=30) == 0, "idle, and nobody holds the lock: it stops"
        assert not address.exists(), "and removes its socket, so that no client finds it"
    finally:
        if server.poll() is None:
            server.kill()
        shutil.rmtree(folder, ignore_errors=True)


def test_a_kernel_writes_to_the_standard_error_of_the_process_that_asked_for_it(server_dir, tmp_path):
    """A kernel that fails to start prints its traceback where a kernel started by the client would: to the
    client's standard error (sent with the request), not to the resident server's log."""
    interpreter = kernels._kernel_interpreter()
    read, write = os.pipe()
    with kernels.kernel_server() as address:
        missing = str(tmp_path / "no-such-folder")  # the kernel cannot enter its working folder
        reply = kernels._ask(address, {"cmd": [*interpreter, "-m", "ipykernel_launcher", "-f",
                                               str(tmp_path / "k.json")],
                                       "env": dict(os.environ), "cwd": missing}, streams=(write, write))
        os.close(write)
        with os.fdopen(read, "rb") as stream:
            text = stream.read().decode(errors="replace")  # until the kernel has ended
    assert isinstance(reply.get("pid"), int)
    assert "no-such-folder" in text and "Traceback" in text
    log = "".join(p.read_text(errors="replace") for p in server_dir.glob("*/*.log"))
    assert "no-such-folder" not in log


def test_a_kernel_of_a_resident_server_ends_when_the_process_that_asked_for_it_ends(server_dir, tmp_path):
    """As a kernel that its client started ends when the client is gone (its parent is then init)."""
    client = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        with kernels.kernel_server() as address:
            assert address is not None
            cmd = [*kernels._kernel_interpreter(), "-m", "ipykernel_launcher", "-f", str(tmp_path / "k.json")]
            pid = kernels.request_kernel(cmd, {**os.environ, "JPY_PARENT_PID": str(client.pid)}, str(tmp_path))
        assert isinstance(pid, int) and not _gone(pid, timeout=3), "the kernel runs while its client runs"
        client.kill()
        client.wait()
        assert _gone(pid, timeout=30), "and ends with it"
    finally:
        if client.poll() is None:
            client.kill()


def test_the_command_line_stops_the_servers_it_finds(server_dir):
    with kernels.kernel_server() as address:
        assert kernels._listening(Path(address))
    out = subprocess.run([sys.executable, "-m", "jeugdhulp_wijken.pipeline", "--stop-kernel-servers"],
                         capture_output=True, text=True, cwd=paths.ROOT, timeout=600)
    assert out.returncode == 0 and "Stopped 1 kernel server(s)." in out.stdout, out.stderr
    assert not Path(address).exists()

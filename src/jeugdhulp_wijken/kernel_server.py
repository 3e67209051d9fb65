"""The kernel server: new kernels forked from a process that has imported the study's libraries once.

Every notebook of a run still gets a new kernel process of its own, as a reader who opens it does:
nothing one notebook sets (pandas options, warning filters, figures, variables) reaches the next.
What is shared is only the work of importing: this server process imports the libraries the
notebooks use (:data:`WARM_MODULES`, then the package's own :data:`PACKAGE_MODULES`), reads the package
files that every kernel would parse again (:data:`PACKAGE_CACHES`), then forks one
child per kernel. A child starts its IPython kernel exactly as ``python -m ipykernel_launcher -f
<connection file>`` would, with the environment and working folder that jupyter_client asked for.
Starting a kernel then costs milliseconds instead of 1 s for the interpreter and 1-5 s of imports.

The server is started by the runner (:mod:`.pipeline.kernels`) and listens on a Unix socket in a
private folder. It lives either for one run (it stops by itself when the process that started it is
gone) or, resident, for as long as runs keep asking it for kernels: it stops after ``idle`` seconds
without a request, so that the next run of the same code soon after (a second region) finds the imports
done. This module imports nothing outside the standard library at import time, and nothing of the pipeline.

Protocol: one JSON line per connection. ``{"cmd": [...], "env": {...}, "cwd": "..."}``, sent with the
client's standard output and error as file descriptors (``socket.send_fds``), which become the kernel's,
as they would be the kernel's had the client started it; the reply is one JSON line, ``{"pid": <kernel
pid>}`` or ``{"error": "..."}`` (the runner then starts the kernel the ordinary way). ``{"stop": true}``
stops the server (reply ``{"stopped": <server pid>}``). A connection that sends nothing is only a check
that the server listens.
"""
from __future__ import annotations

import fcntl
import gc
import importlib
import json
import os
import signal
import socket
import sys
import time

#: The libraries a notebook's cells import, directly or inside the package's functions. Not
#: matplotlib_inline: its backend hooks into IPython only when imported inside the running kernel.
#: A module missing here is imported by the kernel itself, as usual; only the time differs.
WARM_MODULES = (
    "numpy", "pandas", "pyogrio", "shapely", "geopandas", "matplotlib", "matplotlib.pyplot", "seaborn",
    "scipy.stats", "statsmodels.api", "statsmodels.formula.api", "statsmodels.stats.outliers_influence",
    "statsmodels.stats.multitest", "sklearn.model_selection", "mapclassify", "libpysal", "esda",
    "jinja2", "markupsafe", "yaml", "pyarrow.parquet", "PIL.Image", "PIL.PngImagePlugin",
    # the kernel itself, its shell and its debugger (the kernel spec declares debugger support)
    "IPython", "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel.debugger",
    "IPython.core.debugger", "IPython.core.oinspect", "IPython.core.completerlib",
    "IPython.extensions.storemagic", "sqlite3",
)
#: The package's own modules that the notebooks import, imported after :data:`WARM_MODULES`. Importing them
#: changes no state a kernel would see (``jeugdhulp_wijken.figures`` leaves a kernel's backend alone).
#: Served only to kernels with the server's PYTHONPATH, so that a kernel never runs another checkout's code.
PACKAGE_MODULES = (
    "jeugdhulp_wijken.lab", "jeugdhulp_wijken.catalog", "jeugdhulp_wijken.figures", "jeugdhulp_wijken.deviation",
    "jeugdhulp_wijken.geometry", "jeugdhulp_wijken.maps", "jeugdhulp_wijken.overview", "jeugdhulp_wijken.regions",
    "jeugdhulp_wijken.wijktable", "jeugdhulp_wijken.scp", "jeugdhulp_wijken.scp.io", "jeugdhulp_wijken.scp.plots",
    "jeugdhulp_wijken.scp.region", "jeugdhulp_wijken.local_factors",
    "jeugdhulp_wijken.report", "jeugdhulp_wijken.report.browser", "jeugdhulp_wijken.atlas",
    "jeugdhulp_wijken.qualitative",
)
#: Caches of the package filled after :data:`PACKAGE_MODULES`, as ``module:function``: each holds what a file
#: parses or compiles to, keyed on that file's version (path, mtime, size), so a kernel that finds the file
#: changed reads it again. Every notebook saves figures (the registry); every report renders templates and
#: names the installed versions of the pinned packages.
PACKAGE_CACHES = ("jeugdhulp_wijken.figure_registry:load_registry", "jeugdhulp_wijken.report.render:compile_templates",
                  "jeugdhulp_wijken.pipeline.runner:package_versions")
#: The backend ipykernel gives matplotlib in every kernel; set before matplotlib is imported here.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
#: The kernel command this server can start: ``<python> <flags> -m ipykernel_launcher -f <file>``.
LAUNCHER = ("-m", "ipykernel_launcher", "-f")


def kernel_prefix(cmd: list[str]) -> tuple[list[str], str] | None:
    """Split a kernel command into (interpreter and flags, connection file), or None when it is not
    the standard IPython kernel command."""
    for i in range(1, len(cmd) - 3):
        if tuple(cmd[i:i + 3]) == LAUNCHER and i + 4 == len(cmd):
            return list(cmd[:i]), cmd[i + 3]
    return None


def _warm_up() -> list[str]:
    """Import :data:`WARM_MODULES` and fill :data:`PACKAGE_CACHES`; return the names that failed (the kernel
    imports or reads those itself)."""
    failed = []
    for name in WARM_MODULES + PACKAGE_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the kernel will import it (and report the error) itself
            failed.append(name)
    for name in PACKAGE_CACHES:
        module, function = name.split(":")
        try:
            getattr(importlib.import_module(module), function)()
        except Exception:  # noqa: BLE001 - the kernel reads the file (and reports its error) itself
            failed.append(name)
    try:
        _warm_fonts()
    except Exception:  # noqa: BLE001 - the first figure of each kernel then loads the fonts itself
        failed.append("fonts")
    return failed


def _warm_fonts() -> None:
    """Render a small figure with text on a bare Agg canvas, so the font files, font lookups and mathtext parser
    that figures need are loaded once, here. No pyplot and no backend choice: matplotlib's state is otherwise untouched."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([1, 1000], [1, 0], label="Aa")
    ax.set_xscale("log")  # its tick labels are mathtext, whose parser is built on first use (0.25 s)
    ax.set_title("Titel", fontweight="bold")
    ax.set_xlabel("x (%)")
    ax.legend()
    fig.savefig(io.BytesIO(), format="png")


#: The largest request: a kernel command, its environment and folder.
MAX_REQUEST = 1 << 20


def _end_with(pid: int) -> None:
    """In a forked kernel: end when process ``pid`` (the client that asked for it) ends, as a kernel the client
    started ends when its parent is gone (ipykernel watches only its parent, here the server)."""
    import select
    import threading

    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):  # no pidfd on this system: ipykernel's own watch only
        return

    def watch() -> None:
        select.select([fd], [], [])
        os._exit(1)

    threading.Thread(target=watch, name="client-watch", daemon=True).start()


def _start_kernel(connection_file: str, env: dict[str, str], cwd: str, streams: list[int]) -> None:
    """In the forked child: become a kernel, as ``python -m ipykernel_launcher -f <file>`` does, writing to the
    requesting client's standard output and error (``streams``, when it sent them). Never returns."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.setsid()  # its own process group, as jupyter_client starts kernels
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        for target, fd in zip((1, 2), streams):
            os.dup2(fd, target)
        for fd in streams:
            if fd > 2:
                os.close(fd)
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        import importlib.util

        from ipykernel import kernelapp

        argv = ["-f", connection_file]
        if env.get("JPY_PARENT_PID"):  # read from the environment when ipykernel is imported, so given here
            argv.append(f"--IPKernelApp.parent_handle={int(env['JPY_PARENT_PID'])}")
            _end_with(int(env["JPY_PARENT_PID"]))
        sys.argv = [importlib.util.find_spec("ipykernel_launcher").origin, "-f", connection_file]
        kernelapp.IPKernelApp.launch_instance(argv=argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    except BaseException:  # noqa: BLE001 - reported on the kernel's stderr, like a failed kernel start
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)


def _read_request(conn: socket.socket) -> tuple[bytes, list[int]]:
    """One request line and the file descriptors sent with it."""
    data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 2)
    while data and not data.endswith(b"\n") and len(data) < MAX_REQUEST:
        more = conn.recv(1 << 16)
        if not more:
            break
        data += more
    return data, list(fds)


def _reply(conn: socket.socket, message: dict) -> None:
    try:
        conn.sendall(json.dumps(message).encode() + b"\n")
    except OSError:  # the client is gone; it starts its kernel the ordinary way
        pass


def _handle(conn: socket.socket, listener: socket.socket, prefix: list[str], retire) -> bool:
    """Serve one connection; True when it asked the server to stop (``retire()`` is called before the reply)."""
    with conn:
        try:
            data, streams = _read_request(conn)
        except OSError:
            return False
        try:
            return _serve_request(conn, listener, prefix, data, streams, retire)
        finally:
            for fd in streams:  # the kernel has its copies
                os.close(fd)


def _serve_request(conn: socket.socket, listener: socket.socket, prefix: list[str], data: bytes,
                   streams: list[int], retire) -> bool:
    if not data.strip():
        return False  # a check that the server listens
    try:
        request = json.loads(data)
        if request.get("stop") is True:
            retire()
            _reply(conn, {"stopped": os.getpid()})
            return True
        parts = kernel_prefix(request["cmd"])
        if parts is None or parts[0] != prefix:
            raise ValueError(f"not a kernel command of this server ({' '.join(prefix)}): {request['cmd']}")
        env = {str(k): str(v) for k, v in request["env"].items()}
        cwd = str(request["cwd"])
        if env.get("PYTHONPATH", "") != os.environ.get("PYTHONPATH", ""):
            raise ValueError("the kernel's PYTHONPATH is not the server's: its modules may be other code")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        _reply(conn, {"error": str(exc)})
        return False
    try:
        pid = os.fork()
    except OSError as exc:
        _reply(conn, {"error": f"fork failed: {exc}"})
        return False
    if pid == 0:
        listener.close()
        conn.close()
        _start_kernel(parts[1], env, cwd, streams)
    _reply(conn, {"pid": pid})
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _retire(address: str, inode: int, lock: str | None) -> bool:
    """An idle resident server's exit: under the lock that clients hold while they look for a server, remove
    the socket (if it is still this server's), so that no client finds it afterwards. False when a client
    holds the lock (it is about to use this server)."""
    handle = None
    if lock:
        try:
            handle = open(lock, "a")
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            if handle is not None:
                handle.close()
            return False
    try:
        if os.stat(address).st_ino == inode:
            os.unlink(address)
    except OSError:
        pass
    return True  # the lock is released when the process ends


def serve(address: str, prefix: list[str], parent: int, idle: float = 0.0, lock: str | None = None,
          ready: int | None = None) -> None:
    """Listen at ``address``; fork a kernel per request. Stop on request, on SIGTERM, when process ``parent`` is
    gone (0: not watched), or after ``idle`` seconds without a connection (0: never). ``ready``: a pipe to
    write one byte to (and close) once the server listens."""
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]  # as ipykernel_launcher does; the kernel puts the working folder back
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    inode = os.stat(address).st_ino
    listener.listen(16)  # requests wait here while the imports run
    if ready is not None:
        os.write(ready, b"1")
        os.close(ready)
    _warm_up()
    # what the imports made is never garbage: the kernels' collections skip it (and leave its memory pages
    # shared with this process instead of writing to each of them)
    gc.freeze()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # kernels are reaped by the system when they end
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # nothing to tidy: kernels have their own sessions
    listener.settimeout(1.0)
    last = time.monotonic()
    while True:
        if parent and not _alive(parent):
            return
        if idle and time.monotonic() - last > idle and _retire(address, inode, lock):
            return
        try:
            conn, _ = listener.accept()
        except (socket.timeout, InterruptedError):
            continue
        conn.settimeout(None)
        if _handle(conn, listener, prefix, lambda: _retire(address, inode, None)):
            return
        last = time.monotonic()


def _detach() -> int:
    """Go on in a child process and end this one once the child listens (exit status 0; 1 if the child failed
    first): the server is then nobody's child, and no process that started it is left with a zombie. Returns
    the child's end of the pipe that says it listens."""
    read, write = os.pipe()
    if os.fork() > 0:
        os.close(write)
        os._exit(0 if os.read(read, 1) else 1)
    os.close(read)
    return write


def main(argv: list[str]) -> int:
    """``python -m jeugdhulp_wijken.kernel_server <socket path> <parent pid, or 0> <kernel interpreter, JSON
    list> [<idle seconds> <lock file>] [--detach]``."""
    detach = "--detach" in argv
    argv = [a for a in argv if a != "--detach"]
    address, parent, prefix = argv[0], int(argv[1]), json.loads(argv[2])
    idle = float(argv[3]) if len(argv) > 3 else 0.0
    lock = argv[4] if len(argv) > 4 else None
    try:
        serve(address, prefix, parent, idle, lock, ready=_detach() if detach else None)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

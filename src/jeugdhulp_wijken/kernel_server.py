"""The kernel server: new kernels forked from a process that has imported the study's libraries once.

Every notebook of a run still gets a new kernel process of its own, as a reader who opens it does:
nothing one notebook sets (pandas options, warning filters, figures, variables) reaches the next.
What is shared is only the work of importing: this server process imports the libraries the
notebooks use (:data:`WARM_MODULES`, then the package's own :data:`PACKAGE_MODULES`), reads the package
files that every kernel would parse again (:data:`PACKAGE_CACHES`), then forks one
child per kernel. A child starts its IPython kernel exactly as ``python -m ipykernel_launcher -f
<connection file>`` would, with the environment and working folder that jupyter_client asked for.
Starting a kernel then costs milliseconds instead of 1 s for the interpreter and 1-5 s of imports.

The server is started and stopped by the runner (:mod:`.pipeline.kernels`); it listens on a Unix
socket in a private folder and stops by itself when the process that started it is gone. This
module imports nothing outside the standard library at import time, and nothing of the pipeline.

Protocol: one JSON line per connection, ``{"cmd": [...], "env": {...}, "cwd": "..."}``; the reply is
one JSON line, ``{"pid": <kernel pid>}`` or ``{"error": "..."}`` (the runner then starts the kernel
the ordinary way).
"""
from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import sys

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
    """Render a small figure with text on a bare Agg canvas, so the font files and font lookups every figure
    needs are loaded once, here. No pyplot and no backend choice: matplotlib's state is otherwise untouched."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([0, 1], [1, 0], label="Aa")
    ax.set_title("Titel", fontweight="bold")
    ax.set_xlabel("x (%)")
    ax.legend()
    fig.savefig(io.BytesIO(), format="png")


def _start_kernel(connection_file: str, env: dict[str, str], cwd: str) -> None:
    """In the forked child: become a kernel, as ``python -m ipykernel_launcher -f <file>`` does. Never returns."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.setsid()  # its own process group, as jupyter_client starts kernels
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        import importlib.util

        from ipykernel import kernelapp

        argv = ["-f", connection_file]
        if env.get("JPY_PARENT_PID"):  # read from the environment when ipykernel is imported, so given here
            argv.append(f"--IPKernelApp.parent_handle={int(env['JPY_PARENT_PID'])}")
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


def _handle(conn: socket.socket, listener: socket.socket, prefix: list[str]) -> None:
    with conn, conn.makefile("rwb") as stream:
        try:
            request = json.loads(stream.readline())
            parts = kernel_prefix(request["cmd"])
            if parts is None or parts[0] != prefix:
                raise ValueError(f"not a kernel command of this server ({' '.join(prefix)}): {request['cmd']}")
            env = {str(k): str(v) for k, v in request["env"].items()}
            cwd = str(request["cwd"])
            if env.get("PYTHONPATH", "") != os.environ.get("PYTHONPATH", ""):
                raise ValueError("the kernel's PYTHONPATH is not the server's: its modules may be other code")
        except (ValueError, KeyError, TypeError) as exc:
            stream.write(json.dumps({"error": str(exc)}).encode() + b"\n")
            return
        pid = os.fork()
        if pid == 0:
            listener.close()
            stream.close()
            conn.close()
            _start_kernel(parts[1], env, cwd)
        stream.write(json.dumps({"pid": pid}).encode() + b"\n")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def serve(address: str, prefix: list[str], parent: int) -> None:
    """Listen at ``address``; fork a kernel per request; stop when process ``parent`` is gone or on SIGTERM."""
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]  # as ipykernel_launcher does; the kernel puts the working folder back
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(16)  # requests wait here while the imports run
    _warm_up()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # kernels are reaped by the system when they end
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # nothing to tidy: kernels have their own sessions
    listener.settimeout(1.0)
    while True:
        if not _alive(parent):
            return
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        conn.settimeout(None)
        _handle(conn, listener, prefix)


def main(argv: list[str]) -> int:
    """``python -m jeugdhulp_wijken.kernel_server <socket path> <parent pid> <kernel interpreter, JSON list>``."""
    address, parent, prefix = argv[0], int(argv[1]), json.loads(argv[2])
    try:
        serve(address, prefix, parent)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The test session keeps its resident kernel servers (:mod:`jeugdhulp_wijken.pipeline.kernels`) in a folder of
its own, shared by its workers, and stops them when it ends: tests neither use a server that another program
left nor leave one behind."""
from __future__ import annotations

import os
import shutil
import tempfile

from jeugdhulp_wijken.pipeline import kernels

if "PYTEST_XDIST_WORKER" not in os.environ and not os.environ.get(kernels.DIR_VARIABLE):
    os.environ[kernels.DIR_VARIABLE] = tempfile.mkdtemp(prefix="jhw-t-")  # the workers inherit it
    _OWN_FOLDER = os.environ[kernels.DIR_VARIABLE]
else:
    _OWN_FOLDER = None


def pytest_sessionfinish(session):
    if hasattr(session.config, "workerinput"):
        return  # a worker: the controller stops the servers once every worker is done
    kernels.stop_servers()
    if _OWN_FOLDER:
        shutil.rmtree(_OWN_FOLDER, ignore_errors=True)

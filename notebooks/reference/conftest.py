"""pytest setup for `make verify`: the kernels nbval starts use one BLAS/OpenMP thread, as the
pipeline's kernels do, so a re-executed notebook computes exactly as the reference run did."""
import os

from jeugdhulp_wijken.pipeline import THREAD_VARIABLES

os.environ.update({var: "1" for var in THREAD_VARIABLES})

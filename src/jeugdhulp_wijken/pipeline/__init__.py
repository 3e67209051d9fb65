"""The compendium's pipeline (``pipeline.yml``), run with papermill.

* :mod:`.spec`     the spec: stages, steps, inputs and outputs;
* :mod:`.schema`   the schema of every notebook parameter, checked before anything runs;
* :mod:`.params`   notebook parameters and command-line values;
* :mod:`.plan`     a run's steps, regions, parameters and paths;
* :mod:`.cache`    the content-hash cache;
* :mod:`.execute`  one step: papermill into a staging folder, outputs moved into place on success;
* :mod:`.kernels`  each notebook's kernel, forked from the run's kernel server (:mod:`..kernel_server`);
* :mod:`.steps`    one step, and steps side by side in threads (one BLAS/OpenMP thread per kernel);
* :mod:`.schedule` several regions: shared steps and regions share the slots, regions in worker processes;
* :mod:`.runner`   the run: the shared stage, the regions, the atlas, the run manifest;
* :mod:`.edition`  the teaching edition (executed notebooks as HTML; :mod:`.edition_html` renders);
* :mod:`.cli`      ``jhw-reproduce``.
"""
import sys

# nbformat imports jsonschema, which at import compiles 38 lark grammars (about 2 s per process) to
# offer an "iri" format check when rfc3987-syntax is installed (jupyter-events pulls it in). Notebook
# validation never checks formats, so the runner's processes go without that one check.
if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)

from .cache import KERNEL, cache_key, is_cached, package_source_hash, sha256_tree
from .cli import build_parser, main
from .execute import execute_step, executed_notebook
from .params import notebook_parameters, parse_param, parse_regions
from .plan import Context, RunPlan, StepPlan, plan_run
from .runner import package_versions, prepare_data, resolve_regions, run
from .schema import SCHEMA, check_value
from .spec import PipelineError, Spec, Stage, Step, StepFailed, load_spec
from .kernels import THREAD_VARIABLES

__all__ = ["KERNEL", "SCHEMA", "THREAD_VARIABLES", "Context", "PipelineError", "RunPlan", "Spec",
           "Stage", "Step", "StepFailed", "StepPlan", "build_parser", "cache_key", "check_value", "execute_step",
           "executed_notebook", "is_cached", "load_spec", "main", "notebook_parameters", "package_source_hash",
           "package_versions", "parse_param", "parse_regions", "plan_run", "prepare_data", "resolve_regions",
           "run", "sha256_tree"]

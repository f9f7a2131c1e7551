"""The course loop on nbgrader's own API: build release notebooks, check they are in sync, autograde.

One module per job, read top to bottom:

* :mod:`~llmcourse.course.sources` -- ``tools/notebooks/*.py`` (one source per notebook) -> ``solutions/``,
  with :mod:`~llmcourse.course.cells` (the nbgrader cell roles);
* :mod:`~llmcourse.course.layout` -- the course folder, assignments, release build and sync check;
* :mod:`~llmcourse.course.prepare` -- the cached models each assignment's notebook loads;
* :mod:`~llmcourse.course.intake` -- submissions found, copied and inspected (tampering, suspicious code);
* :mod:`~llmcourse.course.runner` -- grading limits, the sandboxed kernel (``llmcourse/sandbox.py``) and
  the fork server that runs nbgrader's autograde per submission;
* :mod:`~llmcourse.course.results` -- gradebook merge, progress lines, feedback without hidden tests (the
  preprocessors in :mod:`~llmcourse.course.redact`), CSV exports;
* :mod:`~llmcourse.course.grading` -- :func:`grade`, which ties intake, runner and results together;
* :mod:`~llmcourse.course.run` -- executing a notebook for ``llmcourse course run``.

Everything public is re-exported here: ``from llmcourse import course; course.grade(...)``.
"""

# the private names re-exported here are the ones tests reach for (as they did in the single module)
from llmcourse.course.layout import (COURSE_ID, RELEASE_DIR, SOURCE_DIR, CourseError, _api, _env_for_nbgrader, build,
                                     find_course_root, list_assignments, release_diff, release_orphans,
                                     write_workdir_config)
from llmcourse.course.prepare import declared_notebook_models, model_builders, prepare_models
from llmcourse.course.intake import COPIED, SUSPICIOUS, _hidden_lines
from llmcourse.course.runner import KERNEL_ENV, KERNEL_ENV_PREFIXES, GradingLimits, _kernel_read_paths, isolation_status
from llmcourse.course.results import NotebookScore, _redact_text, export_grades, feedback, write_scores_csv
from llmcourse.course.grading import grade
from llmcourse.course.run import execute, stderr_outputs

__all__ = ["COURSE_ID", "RELEASE_DIR", "SOURCE_DIR", "CourseError", "find_course_root", "list_assignments", "build",
           "release_diff", "release_orphans", "write_workdir_config", "declared_notebook_models", "model_builders", "prepare_models",
           "SUSPICIOUS", "COPIED", "KERNEL_ENV", "KERNEL_ENV_PREFIXES", "GradingLimits", "isolation_status",
           "NotebookScore", "export_grades", "write_scores_csv", "feedback", "grade", "execute", "stderr_outputs"]

"""The feedback preprocessors that keep hidden tests hidden, importable by name.

A graded workdir's ``nbgrader_config.py`` (:func:`~llmcourse.course.layout.write_workdir_config`) sets
``GenerateFeedback.preprocessors = FEEDBACK_PREPROCESSORS``, so formgrader's "Generate Feedback" button
writes the same redacted feedback as ``llmcourse course feedback``. This module imports nbgrader at the
top (a config file needs the classes themselves), so the rest of the package imports it lazily.
"""

from __future__ import annotations

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.api import Gradebook
from nbgrader.preprocessors import ClearHiddenTests, GetGrades, NbGraderPreprocessor

from llmcourse.course.intake import _hidden_lines
from llmcourse.course.results import _redact_text


class RedactHiddenTests(NbGraderPreprocessor):
    """Remove hidden-test lines from every output of a feedback notebook.

    nbgrader's feedback shows tracebacks, and an IPython traceback prints the failing line of the
    test cell -- a hidden assert -- in full; student code can also print hidden tests (the notebook
    file, an IPython hook). The hidden lines come from the gradebook's source cells.
    """

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            src = gb.find_notebook(info["notebook"], info["assignment"])
            hidden = [ln for c in src.source_cells for ln in _hidden_lines(c.source)]
        if not hidden:
            return nb, resources
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                if "text" in out:
                    out["text"] = _redact_text(out["text"], hidden)
                if "traceback" in out:
                    out["traceback"] = [_redact_text(t, hidden) for t in out["traceback"]]
                if "evalue" in out:
                    out["evalue"] = _redact_text(out["evalue"], hidden)
                for key, value in (out.get("data") or {}).items():
                    if isinstance(value, str) and key.startswith("text/"):
                        out["data"][key] = _redact_text(value, hidden)
        return nb, resources


FEEDBACK_PREPROCESSORS = [GetGrades, ClearHiddenTests, RedactHiddenTests, CSSHTMLHeaderPreprocessor]
"""nbgrader's feedback steps plus ``ClearHiddenTests`` (with ``enforce_metadata = False``) and the
redaction of outputs."""

"""Execution for ``llmcourse course run``: a notebook top to bottom in a fresh kernel, with per-cell
timings and the cells that wrote to stderr.
"""

from __future__ import annotations

from pathlib import Path

def execute(path: str | Path, *, timeout: int = 600, allow_errors: bool = False) -> tuple[object, list[tuple[int, float]]]:
    """Run a notebook top to bottom in a fresh kernel (its own folder as working directory).

    Returns the executed notebook (nothing is written back to disk) and ``(cell_index, seconds)``
    for each code cell, slowest first. Raises ``nbclient``'s ``CellExecutionError`` on the first
    failing cell unless ``allow_errors``.
    """
    import time

    import nbformat
    from nbclient import NotebookClient

    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(path.parent)}})
    timings: list[tuple[int, float]] = []
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            t0 = time.perf_counter()
            client.execute_cell(cell, i)
            timings.append((i, time.perf_counter() - t0))
    return nb, sorted(timings, key=lambda t: -t[1])


def stderr_outputs(nb) -> list[tuple[int, str]]:
    """Cells whose outputs include stderr text (nbgrader scores a *test* cell with stderr as 0)."""
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                found.append((i, out.get("text", "")[:200]))
    return found

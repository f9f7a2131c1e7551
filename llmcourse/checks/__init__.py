r"""The grader engine behind every notebook test cell.

A test cell calls a stage grader (``llmcourse.checks.reward.check_bradley_terry_numpy(fn)`` …),
and each stage grader is a thin list of cases and named mistakes handed to :func:`check_function`:

1. every case is run through the student's function and the package's reference — for an exercise
   whose result is differentiated or trained (``grad_wrt``), on values *and* on the gradients that
   reach the inputs, as the trainer's ``backward()`` would see them;
2. outputs are compared (numbers with a tolerance, tensors/arrays by shape then value, containers
   element-wise; NaN never matches, ±inf only itself);
3. when cases fail, a **classic mistake** (a wrong implementation kept next to the grader) is named
   only if it explains every case — it gives the student's output wherever the student is wrong and
   the right one wherever the student is right;
4. otherwise the message shows the first failing case, its inputs as they were passed, got and expected.

A failure raises :class:`CheckFailure`; in Jupyter it shows its ``✗`` message alone (no traceback
through the grader, whose source holds the hidden cases) and the cell still errors, so nbgrader scores
it 0. A pass prints one line. Warnings and stderr output of the student's code are captured (nbgrader
scores a test cell 0 if anything reaches stderr) and reported in the pass line instead.

Each classic mistake is written once, as a function; :func:`student_source` turns it into the answer
cell a student would hand in, which the wrong-answer catalogue (``tests/wrong_answers``) submits through
real nbgrader autograde.

Example::

    >>> from llmcourse.checks import Case, check_function
    >>> check_function(lambda x: 2 * x, lambda x: x + x, [Case((3,), label="three")], name="double")
    ✓ double: 1/1 cases pass
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import io
import math
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

__all__ = ["Case", "Mistake", "CheckFailure", "Differentiated", "calls_reference", "check_function", "compare",
           "fail", "passed", "quiet", "short_repr", "student_source", "uses"]


class CheckFailure(AssertionError):
    """A student's answer is wrong; the message says which case, what was expected, and a hint.

    IPython calls ``_render_traceback_`` instead of printing a traceback: the cell shows the message
    alone (a traceback would walk through the grader's code and print its hidden cases) and still
    ends in an error, which nbgrader scores 0."""

    def _render_traceback_(self) -> list[str]:
        return str(self).splitlines() or [type(self).__name__]


@dataclass
class Case:
    """One input to compare student and reference on.

    ``args``/``kwargs`` are deep-copied before each call, so neither function can change them for the
    other; ``label`` names the case in feedback ("large score gap (±1e4)")."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    label: str = ""
    atol: float | None = None  # overrides the grader's tolerance for this case
    rtol: float | None = None


@dataclass
class Mistake:
    """A classic wrong implementation, recognised by giving the same output as the student.

    ``fn`` has the exercise's signature and is written as a student would write it (its helpers in the
    same module); :func:`student_source` derives the answer cell from it. ``source`` overrides that
    derivation where the student-style cell differs from the callable (none do today)."""

    name: str
    fn: Callable[..., Any]
    hint: str
    source: str | None = None


def uses(*mistake_lists: Sequence[Mistake]) -> Callable:
    """Mark a grader with the classic mistakes it names: ``check.mistakes`` is what the wrong-answer
    catalogue submits for that grader's exercise."""

    def mark(check: Callable) -> Callable:
        check.mistakes = [m for ms in mistake_lists for m in ms]
        return check

    return mark


def fail(message: str) -> None:
    """Raise a :class:`CheckFailure` with a message a student can act on."""
    raise CheckFailure(message)


def passed(name: str, detail: str) -> None:
    print(f"✓ {name}: {detail}")


@contextlib.contextmanager
def quiet() -> Iterator[list[str]]:
    """Run student code with its warnings and stderr captured (nbgrader zeroes a test cell that writes
    to stderr); yields the list the captured messages are appended to."""
    notes: list[str] = []
    err = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(err):
        warnings.simplefilter("always")
        try:
            yield notes
        finally:
            notes += [str(w.message) for w in caught]
            if err.getvalue().strip():
                notes.append(err.getvalue().strip().splitlines()[-1])


# --------------------------------------------------------------------------- comparison


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _is_array(x: Any) -> bool:
    return type(x).__module__.startswith("numpy") and hasattr(x, "shape")


def _to_numpy(x: Any):
    import numpy as np

    if _is_tensor(x):
        return x.detach().to("cpu").float().numpy() if x.is_floating_point() else x.detach().cpu().numpy()
    return np.asarray(x)


def short_repr(x: Any, limit: int = 160) -> str:
    """A repr that fits on one feedback line (long tensors are elided in the middle)."""
    if _is_tensor(x) or _is_array(x):
        arr = _to_numpy(x)
        import numpy as np

        with np.printoptions(precision=4, threshold=12, edgeitems=3, linewidth=10_000):
            body = np.array2string(arr, separator=", ").replace("\n", "")
        text = f"{'tensor' if _is_tensor(x) else 'array'}({body}, shape={tuple(arr.shape)})"
    else:
        text = repr(x).replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit // 2 - 2] + " … " + text[-limit // 2 + 2 :]


def _shape_hint(got: tuple, expected: tuple) -> str:
    if got and expected == ():
        return " (one value per element where a scalar was expected — forgot to reduce?)"
    if expected and got == ():
        return " (a scalar where one value per element was expected — reduced too early?)"
    if got == expected + (1,):
        return " (a trailing dimension of size 1 — forgot `.squeeze(-1)`?)"
    return ""


def compare(got: Any, expected: Any, *, atol: float = 1e-6, rtol: float = 1e-5, path: str = "output",
            equal_nan: bool = False) -> str | None:
    """Return ``None`` when ``got`` matches ``expected``, else a one-line reason naming where.

    Numbers match within ``atol + rtol·|expected|`` (NaN never matches unless ``equal_nan``, ±inf only
    itself); tensors/arrays must match shape first; lists, tuples and dicts match element-wise.
    """
    import numpy as np

    kw = {"atol": atol, "rtol": rtol, "equal_nan": equal_nan}
    if isinstance(expected, Differentiated):
        return _compare_differentiated(got, expected, **kw, path=path)
    if _is_tensor(expected) or _is_array(expected):
        if not (_is_tensor(got) or _is_array(got) or isinstance(got, (int, float, list, tuple))):
            return f"{path}: expected an array/tensor, got {type(got).__name__}"
        if _is_tensor(expected) and not _is_tensor(got):
            return f"{path}: expected a torch.Tensor, got {type(got).__name__}"
        e, g = _to_numpy(expected), _to_numpy(got)
        if e.shape != g.shape:
            return f"{path}: shape {tuple(g.shape)}, expected {tuple(e.shape)}{_shape_hint(tuple(g.shape), tuple(e.shape))}"
        if e.dtype.kind in "biu" and g.dtype.kind in "biu":
            if not np.array_equal(e, g):
                idx = tuple(int(i) for i in np.argwhere(e != g)[0])
                return f"{path}: differs at index {idx}: got {int(g[idx])}, expected {int(e[idx])}"
            return None
        e, g = e.astype(np.float64), g.astype(np.float64)
        bad = ~np.isclose(g, e, atol=atol, rtol=rtol, equal_nan=equal_nan)
        if not equal_nan:
            bad |= np.isnan(g) & ~np.isnan(e)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            where = f" at index {idx}" if idx else ""
            return f"{path}{where}: got {float(g[idx])!r}, expected {float(e[idx])!r}"
        return None
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        return None if got == expected and type(got) is type(expected) else f"{path}: got {short_repr(got)}, expected {short_repr(expected)}"
    if isinstance(expected, (int, float)):
        if _is_tensor(got) or _is_array(got):
            if _to_numpy(got).shape != ():
                return (f"{path}: got an array of shape {tuple(_to_numpy(got).shape)}, expected a single number"
                        + _shape_hint(tuple(_to_numpy(got).shape), ()))
            got = float(_to_numpy(got))
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            return f"{path}: expected a number, got {type(got).__name__}"
        if isinstance(expected, int) and isinstance(got, int):
            return None if got == expected else f"{path}: got {got}, expected {expected}"
        if equal_nan and math.isnan(got) and math.isnan(expected):
            return None
        if math.isnan(got) or not math.isclose(got, expected, abs_tol=atol, rel_tol=rtol):
            return f"{path}: got {got!r}, expected {expected!r}"
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"{path}: expected a dict, got {type(got).__name__}"
        if set(got) != set(expected):
            missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
            return f"{path}: keys differ (missing {missing}, unexpected {extra})"
        for k in expected:
            reason = compare(got[k], expected[k], **kw, path=f"{path}[{k!r}]")
            if reason:
                return reason
        return None
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            return f"{path}: expected a {type(expected).__name__}, got {type(got).__name__}"
        if len(got) != len(expected):
            return f"{path}: length {len(got)}, expected {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            reason = compare(g, e, **kw, path=f"{path}[{i}]")
            if reason:
                return reason
        return None
    return None if got == expected else f"{path}: got {short_repr(got)}, expected {short_repr(expected)}"


# --------------------------------------------------------------------------- gradients


@dataclass
class Differentiated:
    """A function's output together with the gradients that reach its differentiated inputs.

    ``grads`` is ``None`` when the output is not connected to the inputs (``.item()``, ``torch.no_grad()``,
    ``.detach()``, a tensor rebuilt from numbers): ``backward()`` in the trainer would fail or train
    nothing."""

    value: Any
    grads: tuple | None
    names: tuple[str, ...]


def _differentiated(fn: Callable, wrt: Sequence[int], names: Sequence[str]) -> Callable:
    """``fn`` run the way a trainer runs it: the inputs at ``wrt`` require grad (non-leaf tensors, as a
    model's outputs are), and the output is back-propagated — a scalar directly, a tensor against a
    fixed random cotangent (so every element's gradient counts)."""
    import torch

    def run(*args, **kwargs):
        args = list(args)
        leaves = []
        for i in wrt:
            leaf = args[i].detach().clone().requires_grad_(True)
            leaves.append(leaf)
            args[i] = leaf * 1.0  # non-leaf, like logits out of a model: in-place ops behave as in training
        out = fn(*args, **kwargs)
        if not (_is_tensor(out) and out.requires_grad and out.is_floating_point()):
            return Differentiated(out, None, tuple(names))
        gen = torch.Generator().manual_seed(0)
        cotangent = torch.randn(out.shape, generator=gen, dtype=out.dtype) if out.dim() else torch.ones((), dtype=out.dtype)
        grads = torch.autograd.grad(out, leaves, grad_outputs=cotangent, allow_unused=True)
        grads = tuple(torch.zeros_like(leaf) if g is None else g.detach() for g, leaf in zip(grads, leaves))
        return Differentiated(out.detach(), grads, tuple(names))

    run.__wrapped__ = fn
    return run


def _compare_differentiated(got: Any, expected: Differentiated, *, atol: float, rtol: float, equal_nan: bool,
                            path: str) -> str | None:
    if _is_tensor(expected.value) and not _is_tensor(got.value):
        return (f"{path}: expected a torch.Tensor, got {type(got.value).__name__} — `.item()`, `float(...)` or "
                "NumPy leave the graph, and the trainer calls `.backward()` on this result")
    reason = compare(got.value, expected.value, atol=atol, rtol=rtol, equal_nan=equal_nan, path=path)
    if reason or expected.grads is None:
        return reason
    if got.grads is None:
        if _is_tensor(got.value):
            return (f"{path} carries no gradient: it is cut from the inputs' graph (`.item()`, "
                    "`torch.tensor(...)` of a number, `.detach()` or `torch.no_grad()`), so `loss.backward()` "
                    "cannot train the model")
        return f"{path}: expected a torch.Tensor connected to the inputs, got {type(got.value).__name__}"
    for g, e, name in zip(got.grads, expected.grads, expected.names):
        what = f"∂{path}/∂{name}"
        if not equal_nan and _is_tensor(g) and not bool(g.isfinite().all()) and bool(e.isfinite().all()):
            import numpy as np

            idx = tuple(int(i) for i in np.argwhere(~np.isfinite(_to_numpy(g)))[0])
            return f"{what} is {float(_to_numpy(g)[idx])!r} at index {idx} (expected {float(_to_numpy(e)[idx])!r}): a NaN/inf gradient would wreck training"
        reason = compare(g, e, atol=atol, rtol=rtol, equal_nan=equal_nan, path=what)
        if reason:
            return reason + " — the value is right but the gradient is not (a detached term?)"
    return None


# --------------------------------------------------------------------------- the engine


def calls_reference(student: Callable, reference: Callable) -> bool:
    """True when the answer is the reference itself or a wrapper that calls it by name."""
    if student is reference or getattr(student, "__wrapped__", None) is reference:
        return True
    code = getattr(student, "__code__", None)
    ref_name = getattr(reference, "__name__", None)
    if code is None or ref_name is None:
        return False
    # `from llmcourse.x import f` then `return f(...)`: `f` is a global, or a closure variable when
    # imported inside an enclosing function; `x.f(...)` leaves `f` in co_names with module `x` global.
    # A student's own function of the same name does not reference itself unless it recurses.
    for cell in getattr(student, "__closure__", None) or ():
        try:
            if cell.cell_contents is reference:
                return True
        except ValueError:  # empty cell
            continue
    if ref_name not in code.co_names:
        return False
    glob = getattr(student, "__globals__", {})
    if glob.get(ref_name) is reference:
        return True
    return any(inspect.ismodule(v) and getattr(v, ref_name, None) is reference for v in glob.values())


_calls_reference = calls_reference  # the name some graders imported first


def _unchanged(a: Any, b: Any) -> bool:
    """Exact equality, NaN equal to NaN: did a call leave its inputs as they were?"""
    import numpy as np

    if _is_tensor(a) or _is_array(a):
        if not (_is_tensor(b) or _is_array(b)):
            return False
        x, y = _to_numpy(a), _to_numpy(b)
        return x.shape == y.shape and np.array_equal(x, y, equal_nan=x.dtype.kind == "f")
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_unchanged(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_unchanged(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b) or (a != a and b != b)
    except Exception:
        return True


def _call(fn: Callable, case: Case) -> Any:
    args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
    with quiet():
        return fn(*args, **kwargs)


def _describe_inputs(args: tuple, kwargs: dict, arg_names: Sequence[str] | None) -> str:
    parts = []
    for i, a in enumerate(args):
        name = arg_names[i] if arg_names and i < len(arg_names) else f"arg{i}"
        parts.append(f"{name}={short_repr(a, 100)}")
    parts += [f"{k}={short_repr(v, 100)}" for k, v in kwargs.items()]
    return ", ".join(parts)


@dataclass
class _Outcome:
    case: Case
    label: str
    inputs: str  # the inputs as they were passed (described before the call)
    got: Any
    expected: Any
    reason: str | None
    atol: float
    rtol: float


def _explains(m: Mistake, outcomes: list[_Outcome], wrap: Callable, cmp: Callable, same: Callable) -> bool:
    """Does the mistake reproduce the student's answer on every case, wrong and right alike?"""
    for o in outcomes:
        try:
            wrong = _call(wrap(m.fn), o.case)
        except Exception:
            return False
        if o.reason is not None:
            if same(o.got, wrong, o.atol, o.rtol) is not None or cmp(wrong, o.expected, o.atol, o.rtol) is None:
                return False
        elif cmp(wrong, o.expected, o.atol, o.rtol) is not None and same(o.got, wrong, o.atol, o.rtol) is not None:
            return False
    return True


def check_function(
    student: Callable,
    reference: Callable,
    cases: Iterable[Case],
    *,
    name: str | None = None,
    mistakes: Sequence[Mistake] = (),
    atol: float = 1e-6,
    rtol: float = 1e-5,
    compare_fn: Callable[[Any, Any, float, float], str | None] | None = None,
    check_mutation: bool = True,
    allow_reference: bool = False,
    grad_wrt: Sequence[int] = (),
) -> None:
    """Compare ``student`` with ``reference`` on ``cases``; raise :class:`CheckFailure` with a message
    naming the first failing case and, when one explains every case, the classic mistake.

    ``grad_wrt``: positions of tensor arguments the result is differentiated with respect to (the loss
    exercises); values and gradients are then both compared, and a result cut from the graph fails.

    Prints one ✓ line and returns ``None`` — deliberately: nbgrader reads a number left as a test
    cell's last value as *partial credit*, so a grader must never return one.
    """
    name = name or getattr(reference, "__name__", "your function")
    cases = list(cases)
    if not callable(student):
        fail(f"✗ {name}: expected a function, got {type(student).__name__} — define it in the cell above and run that cell.")
    if not allow_reference and calls_reference(student, reference):
        fail(
            f"✗ {name}: your answer calls the package's reference `{reference.__module__}.{reference.__name__}`. "
            "The package is open-book for reading, but this exercise asks you to write it yourself."
        )
    try:
        arg_names = list(inspect.signature(reference).parameters)
    except (TypeError, ValueError):
        arg_names = None
    if grad_wrt:
        names = tuple(arg_names[i] if arg_names else f"arg{i}" for i in grad_wrt)
        wrap = lambda fn: _differentiated(fn, grad_wrt, names)  # noqa: E731
    else:
        wrap = lambda fn: fn  # noqa: E731
    if compare_fn is None:
        cmp = lambda g, e, a, r: compare(g, e, atol=a, rtol=r)  # noqa: E731
        same = lambda g, e, a, r: compare(g, e, atol=a, rtol=r, equal_nan=True)  # noqa: E731
    else:
        cmp = same = compare_fn
    graded = wrap(student)
    outcomes: list[_Outcome] = []
    notes: list[str] = []
    for i, case in enumerate(cases, 1):
        label = f"case {i}" + (f" “{case.label}”" if case.label else "")
        a = case.atol if case.atol is not None else atol
        r = case.rtol if case.rtol is not None else rtol
        expected = _call(wrap(reference), case)
        args_before = copy.deepcopy((case.args, case.kwargs))
        inputs = _describe_inputs(*args_before, arg_names)  # as passed, before the student can change them
        try:
            with quiet() as caught:
                if check_mutation:
                    got = graded(*case.args, **case.kwargs)
                else:
                    got = graded(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
        except NotImplementedError:
            fail(f"✗ {name}: not implemented yet — replace `raise NotImplementedError()` with your code.")
        except Exception as exc:  # the student's error, shown with the case that triggered it
            fail(f"✗ {name}, {label}: your function raised {type(exc).__name__}: {exc}\n  inputs: {inputs}")
        notes += caught
        if check_mutation and not _unchanged((case.args, case.kwargs), args_before):
            changed = _describe_inputs(case.args, case.kwargs, arg_names)
            case.args, case.kwargs = args_before  # restore for the caller
            fail(
                f"✗ {name}, {label}: your function changed its input arguments in place.\n"
                f"  inputs as passed: {inputs}\n  after your call:  {changed}\n"
                "  Work on a copy so the caller's data stay intact."
            )
        outcomes.append(_Outcome(case, label, inputs, got, expected, cmp(got, expected, a, r), a, r))
    failing = [o for o in outcomes if o.reason is not None]
    if failing:
        first = failing[0]
        share = f" ({len(failing)} of {len(outcomes)} cases fail)" if len(outcomes) > 1 else ""
        for m in mistakes:
            if _explains(m, outcomes, wrap, cmp, same):
                fail(f"✗ {name}, {first.label}: {m.name}.{share}\n  {m.hint}\n  inputs: {first.inputs}\n  {first.reason}")
        fail(f"✗ {name}, {first.label}: wrong result{share}.\n  inputs: {first.inputs}\n  {first.reason}")
    note = f" (your code raised {len(notes)} warning(s), e.g. {notes[0][:80]!r})" if notes else ""
    passed(name, f"{len(cases)}/{len(cases)} cases pass" + (" (values and gradients)" if grad_wrt else "") + note)


# --------------------------------------------------------------------------- a mistake as a student's answer


def _names_used(f: Callable) -> set[str]:
    """Every global name a function's source reads, its default values and nested functions included."""
    import ast
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(f)))
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def student_source(fn: Callable, name: str) -> str:
    """The answer cell that defines ``name`` the way ``fn`` computes it: ``fn``'s source and those of
    the helper functions of its module that it calls (leaf first), the module's other names imported
    from it, then ``name = fn``. The wrong-answer catalogue submits this cell through real autograde."""
    fn = inspect.unwrap(fn)
    module = sys.modules[fn.__module__]
    functions: list[Callable] = []
    imported: set[str] = set()

    def visit(f: Callable) -> None:
        if f in functions:
            return
        if f.__name__ == "<lambda>":
            raise ValueError(f"{module.__name__}: write the mistake used by {fn.__name__} as a named function")
        for n in sorted(_names_used(f)):
            value = module.__dict__.get(n)
            if value is None:
                continue  # a builtin or an attribute name
            if inspect.isfunction(value) and value.__module__ == module.__name__:
                visit(value)
            else:
                imported.add(n)
        functions.append(f)

    visit(fn)
    parts = [f"# a classic mistake of `{name}`, written as a student would (from {module.__name__})"]
    if imported:
        parts.append(f"from {module.__name__} import {', '.join(sorted(imported))}")
    parts += [inspect.getsource(f).rstrip() for f in functions]
    parts.append(f"{name} = {fn.__name__}")
    return "\n\n".join(parts) + "\n"

r"""The grader engine behind every notebook test cell.

A test cell calls a stage grader (``llmcourse.checks.reward.check_bradley_terry_numpy(fn)`` …),
and each stage grader is a thin list of cases and named mistakes handed to :func:`check_function`:

1. every case is run through the student's function and the package's reference;
2. outputs are compared (numbers with a tolerance, tensors/arrays by shape then value, containers
   element-wise);
3. on a mismatch, the student's output is compared with each **classic mistake** (a wrong
   implementation kept next to the grader): a match names the mistake and gives its hint;
4. otherwise the message shows the case, the inputs, expected vs. got.

A failure raises :class:`CheckFailure` (an ``AssertionError``), which nbgrader scores as 0 for the
cell; a pass prints one line. Warnings raised inside the student's code are captured (nbgrader
scores a test cell 0 if anything reaches stderr) and reported in the pass line instead.

Example::

    >>> from llmcourse.checks import Case, check_function
    >>> check_function(lambda x: 2 * x, lambda x: x + x, [Case((3,), label="three")], name="double")
    ✓ double: 1/1 cases pass
"""

from __future__ import annotations

import copy
import inspect
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

__all__ = ["Case", "Mistake", "CheckFailure", "calls_reference", "check_function", "compare", "fail", "passed", "short_repr"]


class CheckFailure(AssertionError):
    """A student's answer is wrong; the message says which case, what was expected, and a hint."""


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
    """A classic wrong implementation, recognised by giving the same output as the student."""

    name: str
    fn: Callable[..., Any]
    hint: str


def fail(message: str) -> None:
    """Raise a :class:`CheckFailure` with a message a student can act on."""
    raise CheckFailure(message)


def passed(name: str, detail: str) -> None:
    print(f"✓ {name}: {detail}")


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


def compare(got: Any, expected: Any, *, atol: float = 1e-6, rtol: float = 1e-5, path: str = "output") -> str | None:
    """Return ``None`` when ``got`` matches ``expected``, else a one-line reason naming where.

    Numbers match within ``atol + rtol·|expected|`` (NaN never matches, ±inf only itself);
    tensors/arrays must match shape first; lists, tuples and dicts match element-wise.
    """
    import numpy as np

    if _is_tensor(expected) or _is_array(expected):
        if not (_is_tensor(got) or _is_array(got) or isinstance(got, (int, float, list, tuple))):
            return f"{path}: expected an array/tensor, got {type(got).__name__}"
        if _is_tensor(expected) and not _is_tensor(got):
            return f"{path}: expected a torch.Tensor, got {type(got).__name__}"
        e, g = _to_numpy(expected), _to_numpy(got)
        if e.shape != g.shape:
            hint = ""
            if g.shape == e.shape + (1,):
                hint = " (a trailing dimension of size 1 — forgot `.squeeze(-1)`?)"
            elif e.shape and g.shape == ():
                hint = " (a scalar where one value per element was expected — reduced too early?)"
            elif g.shape and e.shape == ():
                hint = " (one value per element where a scalar was expected — forgot to reduce?)"
            return f"{path}: shape {tuple(g.shape)}, expected {tuple(e.shape)}{hint}"
        if e.dtype.kind in "biu" and g.dtype.kind in "biu":
            if not np.array_equal(e, g):
                idx = tuple(int(i) for i in np.argwhere(e != g)[0])
                return f"{path}: differs at index {idx}: got {int(g[idx])}, expected {int(e[idx])}"
            return None
        e, g = e.astype(np.float64), g.astype(np.float64)
        bad = ~np.isclose(g, e, atol=atol, rtol=rtol, equal_nan=False)
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
                return f"{path}: got an array of shape {tuple(_to_numpy(got).shape)}, expected a single number"
            got = float(_to_numpy(got))
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            return f"{path}: expected a number, got {type(got).__name__}"
        if isinstance(expected, int) and isinstance(got, int):
            return None if got == expected else f"{path}: got {got}, expected {expected}"
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
            reason = compare(got[k], expected[k], atol=atol, rtol=rtol, path=f"{path}[{k!r}]")
            if reason:
                return reason
        return None
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            return f"{path}: expected a {type(expected).__name__}, got {type(got).__name__}"
        if len(got) != len(expected):
            return f"{path}: length {len(got)}, expected {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            reason = compare(g, e, atol=atol, rtol=rtol, path=f"{path}[{i}]")
            if reason:
                return reason
        return None
    return None if got == expected else f"{path}: got {short_repr(got)}, expected {short_repr(expected)}"


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


def _call(fn: Callable, case: Case) -> tuple[Any, list[warnings.WarningMessage]]:
    args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, list(caught)


def _describe_inputs(case: Case, arg_names: Sequence[str] | None) -> str:
    parts = []
    for i, a in enumerate(case.args):
        name = arg_names[i] if arg_names and i < len(arg_names) else f"arg{i}"
        parts.append(f"{name}={short_repr(a, 100)}")
    parts += [f"{k}={short_repr(v, 100)}" for k, v in case.kwargs.items()]
    return ", ".join(parts)


def check_function(
    student: Callable,
    reference: Callable,
    cases: Iterable[Case],
    *,
    name: str | None = None,
    mistakes: Sequence[Mistake] = (),
    atol: float = 1e-6,
    rtol: float = 1e-5,
    compare_fn: Callable[[Any, Any], str | None] | None = None,
    check_mutation: bool = True,
    allow_reference: bool = False,
) -> None:
    """Compare ``student`` with ``reference`` on ``cases``; raise :class:`CheckFailure` on the first
    mismatch with a message naming the case and, when recognised, the classic mistake.

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
    cmp = compare_fn or (lambda g, e, a, r: compare(g, e, atol=a, rtol=r))
    caught_total: list[str] = []
    for i, case in enumerate(cases, 1):
        label = f"case {i}" + (f" “{case.label}”" if case.label else "")
        a = case.atol if case.atol is not None else atol
        r = case.rtol if case.rtol is not None else rtol
        expected, _ = _call(reference, case)
        args_before = copy.deepcopy((case.args, case.kwargs))
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                got = student(*case.args, **case.kwargs) if check_mutation else _call(student, case)[0]
        except NotImplementedError:
            fail(f"✗ {name}: not implemented yet — replace `raise NotImplementedError()` with your code.")
        except Exception as exc:  # the student's error, shown with the case that triggered it
            fail(
                f"✗ {name}, {label}: your function raised {type(exc).__name__}: {exc}\n"
                f"  inputs: {_describe_inputs(case, arg_names)}"
            )
        caught_total += [str(w.message) for w in caught]
        if check_mutation and not _unchanged((case.args, case.kwargs), args_before):
            fail(
                f"✗ {name}, {label}: your function changed its input arguments in place "
                f"({_describe_inputs(case, arg_names)}). Work on a copy so the caller's data stay intact."
            )
        if check_mutation:
            case.args, case.kwargs = args_before  # restore for later cases
        reason = cmp(got, expected, a, r)
        if reason is None:
            continue
        for m in mistakes:
            try:
                wrong, _ = _call(m.fn, case)
            except Exception:
                continue
            if cmp(got, wrong, a, r) is None and cmp(wrong, expected, a, r) is not None:
                fail(f"✗ {name}, {label}: {m.name}.\n  {m.hint}\n  inputs: {_describe_inputs(case, arg_names)}\n  {reason}")
        fail(f"✗ {name}, {label}: wrong result.\n  inputs: {_describe_inputs(case, arg_names)}\n  {reason}")
    note = f" (your code raised {len(caught_total)} warning(s), e.g. {caught_total[0][:80]!r})" if caught_total else ""
    passed(name, f"{len(cases)}/{len(cases)} cases pass{note}")

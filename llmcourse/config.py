"""Stage configs from a file: TOML, YAML or JSON, one section per stage, unknown keys refused.

```toml
[sft]
learning_rate = 3e-4
per_device_train_batch_size = 32

[ppo]
kl_coef = 0.05
```

A section **overrides only the keys it names** on top of the settings in force (:func:`override`;
the demo's tuned or ``--quick`` recipe, with its ``--seed``); a key that does not exist is an error
naming it and the valid ones, never silently ignored — a typo like ``learnig_rate`` would otherwise
train with the default.

Every numeric setting of every stage config is checked by :func:`check_numbers` (called from each
config's ``__post_init__``): a real number, finite (NaN and infinities refused), in the range its
key allows (:data:`RANGES`, TRL's names), the key named in the message.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, Mapping


class ConfigError(ValueError):
    """A config file or key is wrong; the message names it and the valid choices."""


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a ``.toml``, ``.yaml``/``.yml`` or ``.json`` file into a dict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: a byte-order mark (Windows editors) is not TOML
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); re-save the file as UTF-8") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError as exc:
                raise ConfigError(f"{path}: reading YAML needs PyYAML (pip install pyyaml), or use .toml/.json") from exc
            data = yaml.safe_load(text) or {}
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"{path}: unknown config format {suffix!r}; use .toml, .yaml or .json")
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 — each parser has its own error type
        raise ConfigError(f"{path}: cannot parse ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a table/mapping of stage sections")
    return data


def _check_type(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation in (float,) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if annotation is float and isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: {value} is not a finite number")
    if annotation in (int, float, str, bool):
        if isinstance(value, annotation) and not (annotation is int and isinstance(value, bool)):
            return value
        raise ConfigError(f"{where}: expected {annotation.__name__}, got {type(value).__name__} ({value!r})")
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        given = [a for a in args if a is not type(None)]
        if len(given) == 1:  # `int | None`: the int's own message ("expected int, got float (nan)")
            return _check_type(value, given[0], where)
        for a in args:
            if a is type(None):
                continue
            try:
                return _check_type(value, a, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} does not fit {annotation}")
    return value  # containers and others: accepted as given


def make_config(cls: type, values: Mapping[str, Any], where: str = "config"):
    """Instantiate the dataclass ``cls`` from ``values``, refusing unknown keys and wrong types."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown} for {cls.__name__}; valid keys: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {k: _check_type(v, hints.get(k, Any), f"{where}.{k}") for k, v in values.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _checked_values(cls: type, values: Mapping[str, Any], where: str) -> dict[str, Any]:
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown} for {cls.__name__}; valid keys: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    return {k: _check_type(v, hints.get(k, Any), f"{where}.{k}") for k, v in values.items()}


def override(config, values: Mapping[str, Any], where: str = "config"):
    """A copy of the dataclass instance ``config`` with **only** the keys in ``values`` changed (unknown
    keys and wrong types refused); the result is validated as a whole by the dataclass."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: must be a table of keys, got {type(values).__name__}")
    kwargs = _checked_values(type(config), values, where)
    try:
        return dataclasses.replace(config, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def read_sections(path: str | Path, stages: Mapping[str, type]) -> dict[str, dict[str, Any]]:
    """The sections of a config file, each checked against its stage's dataclass (names and types)
    but not yet applied: ``{"sft": {"learning_rate": 2e-5}, ...}``, for :func:`override`."""
    data = read_config_file(path)
    unknown = sorted(set(data) - set(stages))
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {unknown}; valid sections: {sorted(stages)}")
    out = {}
    for name, section in data.items():
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: section [{name}] must be a table of keys")
        out[name] = _checked_values(stages[name], section, f"{path}[{name}]")
    return out


# --------------------------------------------------------------------------- numeric settings

# (low, high, low_inclusive, high_inclusive); None = unbounded. Keyed by TRL's field names, so every
# stage's config that uses a name gets the same rule.
POSITIVE = (0, None, False, False)
NON_NEGATIVE = (0, None, True, False)
AT_LEAST_ONE = (1, None, True, False)
UNIT = (0, 1, True, True)
RANGES: dict[str, tuple] = {
    **dict.fromkeys(("learning_rate", "temperature", "cliprange", "cliprange_value", "epsilon", "epsilon_low",
                     "epsilon_high", "target_kl", "horizon", "adam_epsilon", "max_seconds"), POSITIVE),
    **dict.fromkeys(("weight_decay", "max_grad_norm", "kl_coef", "beta", "vf_coef", "missing_eos_penalty",
                     "center_rewards_coefficient", "num_train_epochs", "warmup_steps", "eval_steps", "n_onpolicy",
                     "seed"), NON_NEGATIVE),
    **dict.fromkeys(("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps",
                     "logging_steps", "batch_size", "num_mini_batches", "num_ppo_epochs", "response_length",
                     "max_length", "eval_max_new_tokens", "max_completion_length", "max_prompt_length",
                     "num_generations", "generation_batch_size", "steps_per_generation", "num_iterations",
                     "n_train", "n_eval", "sampling_batch_size", "max_sampling_rounds"), AT_LEAST_ONE),
    **dict.fromkeys(("gamma", "lam", "min_lr_ratio", "warmup_ratio"), UNIT),
    "adam_beta1": (0, 1, True, False), "adam_beta2": (0, 1, True, False), "label_smoothing": (0, 0.5, True, False),
}


def short_int(value: int) -> str:
    """``value`` for a message; a huge integer by its size (Python refuses to print > 4300 digits)."""
    return str(value) if abs(value) < 10**30 else f"an integer of {value.bit_length()} bits"


def _describe(rng: tuple) -> str:
    lo, hi, lo_in, hi_in = rng
    if rng == AT_LEAST_ONE:
        return "a positive integer"
    if hi is None:
        return f"{'>=' if lo_in else '>'} {lo}"
    return f"in {'[' if lo_in else '('}{lo}, {hi}{']' if hi_in else ')'}"


def check_numbers(config, ranges: Mapping[str, tuple] | None = None) -> None:
    """Every ``int`` / ``float`` field of the dataclass instance ``config``: a number of its type (not a
    bool), finite, and in ``RANGES[key]`` (plus ``ranges``, for keys of one config). ``None`` is refused
    where the field's type does not allow it, and otherwise left to the config's own checks (it often
    means "off"); ``max_steps = -1`` means "use epochs".
    Raises ``ValueError`` naming ``Class.key``, the value and the range."""
    cls = type(config).__name__
    hints = typing.get_type_hints(type(config))
    table = {**RANGES, **(ranges or {})}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        hint = hints.get(f.name)
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        kinds = {a for a in (typing.get_args(hint) if union else (hint,)) if a in (int, float)}
        if not kinds or (value is None and union and type(None) in typing.get_args(hint)):
            continue
        if (value is None or isinstance(value, bool) or not isinstance(value, (int, float))
                or (kinds == {int} and isinstance(value, float))):
            want = "an integer" if kinds == {int} else "a number"
            raise ValueError(f"{cls}.{f.name} must be {want}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{cls}.{f.name} must be a finite number, got {value}")
        if isinstance(value, int) and not -2**63 < value < 2**63:  # what torch and NumPy can hold
            raise ValueError(f"{cls}.{f.name} must be an integer below 2**63, got {short_int(value)}")
        if f.name == "max_steps" and value == -1:
            continue
        rng = table.get(f.name, AT_LEAST_ONE if f.name == "max_steps" else None)
        if rng is None:
            continue
        lo, hi, lo_in, hi_in = rng
        ok = (lo is None or (value >= lo if lo_in else value > lo)) and (hi is None or (value <= hi if hi_in else value < hi))
        if not ok:
            what = "positive or -1 (use num_train_epochs)" if f.name == "max_steps" else _describe(rng)
            raise ValueError(f"{cls}.{f.name} must be {what}, got {value!r}")


def load_stage_configs(path: str | Path, stages: Mapping[str, type]) -> dict[str, Any]:
    """Read ``path`` and build one config per stage; missing sections get the defaults."""
    data = read_config_file(path)
    unknown = sorted(set(data) - set(stages))
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {unknown}; valid sections: {sorted(stages)}")
    out = {}
    for name, cls in stages.items():
        section = data.get(name, {})
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: section [{name}] must be a table of keys")
        out[name] = make_config(cls, section, where=f"{path}[{name}]")
    return out

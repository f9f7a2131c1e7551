"""Stage configs from a file: TOML, YAML or JSON, one section per stage, unknown keys refused.

```toml
[sft]
learning_rate = 3e-4
per_device_train_batch_size = 32

[ppo]
kl_coef = 0.05
```

Each section fills one trainer's config dataclass (its fields and defaults are documented on the
dataclass); a key that does not exist is an error naming it and the valid ones, never silently
ignored — a typo like ``learnig_rate`` would otherwise train with the default.
"""

from __future__ import annotations

import dataclasses
import json
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
    text = path.read_text(encoding="utf-8")
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
        return float(value)
    if annotation in (int, float, str, bool):
        if isinstance(value, annotation) and not (annotation is int and isinstance(value, bool)):
            return value
        raise ConfigError(f"{where}: expected {annotation.__name__}, got {type(value).__name__} ({value!r})")
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
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

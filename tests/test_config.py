from dataclasses import dataclass

import pytest

from llmcourse.config import ConfigError, load_stage_configs, make_config


@dataclass
class A:
    learning_rate: float = 1e-3
    """step size"""
    max_steps: int = 10
    name: str | None = None

    def __post_init__(self):
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be ≥ 1, got {self.max_steps}")


def test_toml_yaml_json_give_the_same_config(tmp_path):
    (tmp_path / "c.toml").write_text("[a]\nlearning_rate = 0.5\nmax_steps = 3\n")
    (tmp_path / "c.yaml").write_text("a:\n  learning_rate: 0.5\n  max_steps: 3\n")
    (tmp_path / "c.json").write_text('{"a": {"learning_rate": 0.5, "max_steps": 3}}')
    got = [load_stage_configs(tmp_path / f"c.{ext}", {"a": A, "b": A}) for ext in ("toml", "yaml", "json")]
    assert all(g["a"] == A(0.5, 3) and g["b"] == A() for g in got)


def test_unknown_key_is_named_with_valid_keys():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['learnig_rate'\].*valid keys: \['learning_rate', 'max_steps', 'name'\]"):
        make_config(A, {"learnig_rate": 1.0})


def test_unknown_section_and_wrong_type_and_invalid_value(tmp_path):
    (tmp_path / "c.toml").write_text("[sfft]\nx = 1\n")
    with pytest.raises(ConfigError, match=r"unknown section\(s\) \['sfft'\]; valid sections: \['a'\]"):
        load_stage_configs(tmp_path / "c.toml", {"a": A})
    with pytest.raises(ConfigError, match="max_steps: expected int, got str"):
        make_config(A, {"max_steps": "3"})
    with pytest.raises(ConfigError, match="max_steps must be ≥ 1"):
        make_config(A, {"max_steps": 0})
    assert make_config(A, {"learning_rate": 1}).learning_rate == 1.0  # int accepted for float


def test_unparseable_and_unknown_format(tmp_path):
    (tmp_path / "c.toml").write_text("[a\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_stage_configs(tmp_path / "c.toml", {"a": A})
    (tmp_path / "c.ini").write_text("")
    with pytest.raises(ConfigError, match="unknown config format"):
        load_stage_configs(tmp_path / "c.ini", {"a": A})
    with pytest.raises(ConfigError, match="no such config file"):
        load_stage_configs(tmp_path / "none.toml", {"a": A})

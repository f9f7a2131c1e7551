"""Config files change only the keys they name, on top of the recipe in force; every numeric setting
of every stage is a finite number in range, and a bad one is named (file, section, key)."""

import dataclasses
import math

import pytest

from llmcourse.config import RANGES, ConfigError, check_numbers, override
from llmcourse.demo import DemoConfig, demo_settings, stage_configs
from llmcourse.dpo import DPOConfig
from llmcourse.grpo import GRPOConfig
from llmcourse.ppo import PPOConfig
from llmcourse.reward import RewardConfig
from llmcourse.scaling.sweep import ScalingSweepConfig
from llmcourse.sft import SFTConfig

CONFIGS = [SFTConfig, RewardConfig, PPOConfig, GRPOConfig, DPOConfig, DemoConfig, ScalingSweepConfig]


def _changed(a, b):
    return {f.name for f in dataclasses.fields(a) if getattr(a, f.name) != getattr(b, f.name)}


@pytest.mark.parametrize("quick", [True, False])
@pytest.mark.parametrize("section,values", [("ppo", {"kl_coef": 0.1}), ("sft", {"learning_rate": 2e-5}),
                                            ("reward", {"max_steps": 3, "warmup_steps": 1}),
                                            ("sft", {"per_device_train_batch_size": 8, "gradient_accumulation_steps": 4}),
                                            ("dpo", {"beta": 0.2, "max_steps": 7}),
                                            ("grpo", {"learning_rate": 3e-5, "num_generations": 2})])
def test_a_section_changes_only_the_keys_it_names_and_keeps_the_seed(tmp_path, quick, section, values):
    path = tmp_path / "c.toml"
    path.write_text(f"[{section}]\n" + "".join(f"{k} = {v!r}\n" for k, v in values.items()))
    demo, overrides = demo_settings({"seed": 7, "quick": quick}, str(path))
    preset = stage_configs(demo)[section]
    assert set(overrides) == {section}
    assert _changed(overrides[section], preset) == set(values)  # the other fields keep the recipe's values
    assert overrides[section].seed == 7 and all(getattr(overrides[section], k) == v for k, v in values.items())


def test_cli_options_win_over_the_demo_section(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[demo]\nseed = 3\nn_train = 500\n")
    demo, _ = demo_settings({"seed": 9}, str(path))
    assert (demo.seed, demo.n_train) == (9, 500)


@pytest.mark.parametrize("text,message", [
    ("[sft]\nlearning_rate = inf\n", r"c.toml\[sft\].learning_rate: inf is not a finite number"),
    ("[sft]\nmax_grad_norm = nan\n", r"c.toml\[sft\].max_grad_norm: nan is not a finite number"),
    ("[ppo]\nkl_coef = nan\n", r"c.toml\[ppo\].kl_coef: nan is not a finite number"),
    ("[ppo]\nkl_coef = -inf\n", r"c.toml\[ppo\].kl_coef: -inf is not a finite number"),
    ("[sft]\nweight_decay = -0.1\n", r"c.toml\[sft\]: SFTConfig.weight_decay must be >= 0, got -0.1"),
    ("[sft]\nadam_beta1 = 1.5\n", r"c.toml\[sft\]: SFTConfig.adam_beta1 must be in \[0, 1\), got 1.5"),
    ("[reward]\nlearning_rate = 0\n", r"c.toml\[reward\]: RewardConfig.learning_rate must be > 0"),
    ("[ppo]\ngamma = 1.01\n", r"c.toml\[ppo\]: PPOConfig.gamma must be in \[0, 1\]"),
    ("[ppo]\ntemperature = 0.0\n", r"PPOConfig.temperature must be > 0"),
    ("[ppo]\nbatch_size = 0\n", r"c.toml\[ppo\]: PPOConfig.batch_size must be a positive integer"),
    ("[sft]\nper_device_train_batch_size = 2.5\n", r"c.toml\[sft\].per_device_train_batch_size: expected int"),
    ("[sft]\nper_device_train_batch_size = true\n", r"c.toml\[sft\].per_device_train_batch_size: expected int"),
    ("[sft]\nlearnig_rate = 1e-3\n", r"c.toml\[sft\]: unknown key\(s\) \['learnig_rate'\]"),
    ("[rlhf]\nbeta = 0.1\n", r"c.toml: unknown section\(s\) \['rlhf'\]; valid sections: .*'dpo', 'grpo'"),
    ("[dpo]\nbeta = 0\n", r"c.toml\[dpo\]: DPOConfig.beta must be > 0"),
    ("[dpo]\nlearning_rate = inf\n", r"c.toml\[dpo\].learning_rate: inf is not a finite number"),
    ("[dpo]\nbta = 0.1\n", r"c.toml\[dpo\]: unknown key\(s\) \['bta'\]"),
    ("[grpo]\nnum_generations = 1\n", r"c.toml\[grpo\]: GRPOConfig.num_generations must be a positive integer|"
                                       r"c.toml\[grpo\]: GRPOConfig.num_generations must be >= 2"),
    ("[grpo]\nepsilon = nan\n", r"c.toml\[grpo\].epsilon: nan is not a finite number"),
    ("[grpo]\nmax_steps = 2.5\n", r"c.toml\[grpo\].max_steps: expected int"),
    ("[grpo]\ntemperatur = 1.0\n", r"c.toml\[grpo\]: unknown key\(s\) \['temperatur'\]"),
    ("[demo]\nstages = 'sft,ppo,rlhf'\n", r"c.toml\[demo\]: stages: unknown stage name\(s\) \['rlhf'\]; valid: base, sft, reward"),
    ("[demo]\nn_train = 0\n", r"DemoConfig.n_train must be a positive integer"),
    ("[demo]\nseed = -1\n", r"DemoConfig.seed must be >= 0"),
    ("[demo]\nn_onpolicy = nan\n", r"c.toml\[demo\].n_onpolicy: expected int"),
    ("sft = 3\n", r"section \[sft\] must be a table"),
    ("[sft\n", r"c.toml: cannot parse"),
])
def test_bad_values_are_refused_naming_file_section_and_key(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        demo_settings({"quick": True}, str(path))


@pytest.mark.parametrize("ext,text", [("yaml", "sft:\n  learning_rate: .nan\n"), ("json", '{"sft": {"learning_rate": NaN}}'),
                                      ("json", '{"ppo": {"kl_coef": Infinity}}')])
def test_nan_and_inf_are_refused_in_yaml_and_json_too(tmp_path, ext, text):
    path = tmp_path / f"c.{ext}"
    path.write_text(text)
    with pytest.raises(ConfigError, match="is not a finite number"):
        demo_settings({}, str(path))


def test_the_demo_refuses_a_stage_template_that_differs_from_its_own(tmp_path):
    from llmcourse.demo import run_demo

    path = tmp_path / "c.toml"
    path.write_text("[sft]\ntemplate = 'alpaca'\n")
    with pytest.raises(ValueError, match=r"\[sft\] template = 'alpaca' differs .* set `template` in \[demo\]"):
        run_demo(*demo_settings({"quick": True, "output": str(tmp_path / "out")}, str(path)))
    path.write_text("[demo]\ntemplate = 'alpaca'\n")
    demo, _ = demo_settings({"quick": True}, str(path))
    assert stage_configs(demo)["sft"].template == "alpaca"


# ------------------------------------------------------------------- every numeric key of every config, from Python

def _numeric_fields(cls):
    cfg = cls()
    return [f.name for f in dataclasses.fields(cfg) if isinstance(getattr(cfg, f.name), (int, float))
            and not isinstance(getattr(cfg, f.name), bool)]


CASES = [(cls, name, bad) for cls in CONFIGS for name in _numeric_fields(cls)
         for bad in (math.nan, math.inf, -math.inf)]


@pytest.mark.parametrize("cls,name,bad", CASES, ids=[f"{c.__name__}.{n}={b}" for c, n, b in CASES])
def test_every_numeric_setting_refuses_nan_and_inf_by_name(cls, name, bad):
    with pytest.raises(ValueError, match=rf"{cls.__name__}\.{name} must be"):
        cls(**{name: bad})


RANGE_CASES = [(cls, name) for cls in CONFIGS for name in _numeric_fields(cls) if name in RANGES]


@pytest.mark.parametrize("cls,name", RANGE_CASES, ids=[f"{c.__name__}.{n}" for c, n in RANGE_CASES])
def test_every_ranged_setting_refuses_a_value_below_its_range_by_name(cls, name):
    lo, _, lo_in, _ = RANGES[name]
    below = lo - 1 if lo_in else lo
    with pytest.raises(ValueError, match=rf"{cls.__name__}\.{name} must be"):
        cls(**{name: below if isinstance(getattr(cls(), name), float) or not float(below).is_integer() else int(below)})


def _not_optional(cls, name):
    import typing
    import types

    hint = typing.get_type_hints(cls)[name]
    return not (typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint))


NONE_CASES = [(cls, name) for cls in CONFIGS for name in _numeric_fields(cls) if _not_optional(cls, name)]


@pytest.mark.parametrize("cls,name", NONE_CASES, ids=[f"{c.__name__}.{n}" for c, n in NONE_CASES])
def test_none_for_a_setting_that_cannot_be_none_is_refused_by_name(cls, name):
    # check_numbers refuses it itself: the stage configs' own checks no longer repeat its ranges, and a
    # None slipped past them (seed=None, SFT's weight_decay=None) or crashed in a comparison (TypeError)
    with pytest.raises(ValueError, match=rf"{cls.__name__}\.{name} must be (an integer|a number), got None"):
        cls(**{name: None})


def test_defaults_pass_and_override_rechecks_the_whole_config():
    for cls in CONFIGS:
        check_numbers(cls())
    with pytest.raises(ConfigError, match="batch_size=6 is not divisible by num_mini_batches=4"):
        override(PPOConfig(batch_size=8, num_mini_batches=4), {"batch_size": 6}, where="x")


@pytest.mark.parametrize("ext,text", [("toml", "[ppo]\nkl_coef = 0.1\n"), ("json", '{"ppo": {"kl_coef": 0.1}}'),
                                      ("yaml", "ppo:\n  kl_coef: 0.1\n")])
def test_a_config_file_with_a_byte_order_mark_is_read(tmp_path, ext, text):
    path = tmp_path / f"c.{ext}"
    path.write_text("\ufeff" + text, encoding="utf-8")
    assert demo_settings({}, str(path))[1]["ppo"].kl_coef == 0.1


def test_a_config_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "c.toml"
    path.write_bytes(b"[ppo]\nkl_coef = 0.1 # \xe9\n")
    with pytest.raises(ConfigError, match=r"c.toml: not UTF-8 text \(byte 22\)"):
        demo_settings({}, str(path))

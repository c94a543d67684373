"""Suite validation: every bad value fails before any model loads, naming field and choices."""

from __future__ import annotations

import pytest

from bench.cli import EXIT_CONFIG, main
from bench.config import load_suite, parse_seeds, shipped_suites
from bench.errors import ConfigError

PROMPT = '[[prompts]]\nid = "p"\ntext = "a cat"\n'


def suite_file(tmp_path, body: str, prompts: str = PROMPT):
    path = tmp_path / "s.toml"
    path.write_text(body + "\n" + prompts)
    return str(path)


@pytest.mark.parametrize("name", ["seed", "tiny"])
def test_shipped_suites_are_valid(name):
    suite = load_suite(name)
    assert suite.prompts and suite.models and suite.seeds


def test_seed_suite_reproduces_the_origin_settings():
    suite = load_suite("seed")
    assert [p.id for p in suite.prompts] == ["futuristic-city", "underwater-world", "abandoned-park"]
    assert suite.schedulers == ["euler-a", "euler", "ddim"]
    assert (suite.steps, suite.guidance_scale, suite.width, suite.height) == (30, 7.5, 512, 512)
    assert suite.seeds == [0, 1, 2, 3] and suite.metrics == ["clip_vit_b_32"]
    assert {"sd15", "sd21", "sd21-base", "openjourney-v4", "dreamlike-photoreal-2", "dalle3-xl"} <= set(suite.models)


@pytest.mark.parametrize(
    "body, field, hint",
    [
        ('models = ["sd99"]', "models", "sd15"),
        ('models = ["sd15"]\nschedulers = ["euler-x"]', "schedulers", "euler-a"),
        ('models = ["sd15"]\nmetrics = ["fid"]', "metrics", "clip_vit_b_32"),
        ('models = ["sd15"]\nbackends = ["tensorflow"]', "backends", "onnxruntime"),
        ('models = ["sd15"]\ncolour = "red"', "colour", "schedulers"),
        ('models = ["sd15"]\nseeds = "3-1"', "seeds", "backwards"),
        ('models = ["sd15"]\nseeds = "a-b"', "seeds", "0-3"),
        ('models = ["sd15"]\nseeds = [1, 1]', "seeds", "duplicates"),
        ('models = ["sd15"]\nsteps = -5', "steps", "positive"),
        ('models = ["sd15"]\nwidth = 500', "width", "divisible by 8"),
        ('models = ["sd15"]\nbatch_size = 0', "batch_size", "positive"),
        ('models = ["sd15"]\ndtype = "float8"', "dtype", "float16"),
        ('models = ["sd15"]\nguidance_scale = -1', "guidance_scale", ">= 0"),
        ('models = ["sd15"]\n[model_overrides.sd15]\ncolor = 1', "model_overrides.sd15", "steps"),
        ('models = ["sd15"]\n[model_overrides.sd15]\nheight = 20', "model_overrides.sd15.height", "divisible"),
        ("models = [", "suite", "TOML"),
    ],
)
def test_bad_config_names_field_and_allowed_values(tmp_path, body, field, hint):
    with pytest.raises(ConfigError) as err:
        load_suite(suite_file(tmp_path, body))
    message = str(err.value)
    assert field in message and hint in message
    assert "\n" not in message  # one clear line


def test_prompt_ids_must_be_safe_and_unique(tmp_path):
    with pytest.raises(ConfigError, match="prompts.id"):
        load_suite(suite_file(tmp_path, 'models = ["sd15"]', '[[prompts]]\nid = "../x"\ntext = "a"\n'))
    twice = PROMPT + PROMPT
    with pytest.raises(ConfigError, match="twice"):
        load_suite(suite_file(tmp_path, 'models = ["sd15"]', twice))


def test_unknown_suite_lists_shipped_ones():
    with pytest.raises(ConfigError) as err:
        load_suite("nope")
    assert all(name in str(err.value) for name in shipped_suites())


def test_command_line_overrides_are_validated_too():
    suite = load_suite("tiny", {"models": "tiny-sd", "schedulers": "ddim,euler", "seeds": "5-6"})
    assert suite.models == ["tiny-sd"] and suite.schedulers == ["ddim", "euler"] and suite.seeds == [5, 6]
    with pytest.raises(ConfigError, match="schedulers"):
        load_suite("tiny", {"schedulers": "nope"})


def test_seed_parsing():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("0,5,9") == [0, 5, 9]
    assert parse_seeds("1-2,7") == [1, 2, 7]
    assert parse_seeds(4) == [4]


def test_model_overrides_layer_on_registry_defaults(tmp_path):
    body = 'models = ["sd21", "sd15"]\nsteps = 20\n[model_overrides.sd21]\nsteps = 50\nwidth = 512'
    suite = load_suite(suite_file(tmp_path, body))
    sd21, sd15 = suite.model_spec("sd21"), suite.model_spec("sd15")
    assert (sd21.steps, sd21.width, sd21.height) == (50, 512, 768)  # height keeps the native 768
    assert (sd15.steps, sd15.width) == (20, 512)


@pytest.mark.parametrize("argv", [["run", "--models", "nope"], ["run", "--seeds", "9-1"], ["run", "--suite", "x.toml"]])
def test_cli_exits_2_with_one_line(argv, capsys):
    assert main(argv) == EXIT_CONFIG
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench: error:") and len(err.splitlines()) == 1

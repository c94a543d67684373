"""Suite validation: every bad value fails before any model loads, naming field and choices."""

from __future__ import annotations

import typing

import pytest

from bench.cli import EXIT_CONFIG, main
from bench.config import MAX_SEEDS, OVERRIDABLE, Prompt, Suite, load_suite, parse_seeds, shipped_suites
from bench.errors import ConfigError
from bench.models import ModelSpec

PROMPT = '[[prompts]]\nid = "p"\ntext = "a cat"\n'


def suite_file(tmp_path, body: str, prompts: str = PROMPT):
    path = tmp_path / "s.toml"
    path.write_text(body + "\n" + prompts)
    return str(path)


# Every shipped suite but hpdv2, whose prompts are fetched like weights (tests/test_hpdv2.py)
@pytest.mark.parametrize("name", [s for s in shipped_suites() if s != "hpdv2"])
def test_shipped_suites_are_valid(name):
    suite = load_suite(name)
    assert suite.prompts and suite.models and suite.seeds


def test_seed_suite_reproduces_the_origin_settings():
    suite = load_suite("seed")
    assert [p.id for p in suite.prompts] == ["futuristic-city", "underwater-world", "abandoned-park"]
    assert suite.schedulers == ["euler-a", "euler", "ddim"]
    assert (suite.steps, suite.guidance_scale) == ([30], [7.5])
    assert suite.seeds == [0, 1, 2, 3] and suite.metrics[0] == "clip_vit_b_32"
    assert {"sd15", "sd21", "sd21-base", "openjourney-v4", "dreamlike-photoreal-2", "dalle3-xl"} <= set(suite.models)
    # The seed names no size, so each model runs at its own (SDXL's size conditioning included).
    sizes = {key: (spec.width, spec.height) for key in suite.models if (spec := suite.model_spec(key))}
    assert sizes["sd15"] == sizes["sd21-base"] == sizes["openjourney-v4"] == (512, 512)
    assert sizes["sd21"] == sizes["dreamlike-photoreal-2"] == (768, 768)
    assert sizes["dalle3-xl"] == sizes["dalle3-xl-sdxl"] == (1024, 1024)


@pytest.mark.parametrize(
    "body, field, hint",
    [
        ('models = ["sd99"]', "models", "sd15"),
        ('models = ["sd15"]\nschedulers = ["euler-x"]', "schedulers", "euler-a"),
        ('models = ["sd15"]\nmetrics = ["fid_score"]', "metrics", "clip_vit_b_32"),
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
    with pytest.raises(ConfigError, match=r"prompts\[0\]\.id"):
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


# --- the red-team report: wrong types and out-of-range values that used to get through ---------


def one_line_error(path: str) -> str:
    with pytest.raises(ConfigError) as err:
        load_suite(path)
    message = str(err.value)
    assert "\n" not in message and "pydantic" not in message and "http" not in message
    return message


TINY = 'models = ["tiny-sd"]'


@pytest.mark.parametrize(
    "body, prompts, starts",
    [
        # these three were Python tracebacks
        (f"{TINY}\nprompts = 5", "", "prompts: must be a list"),
        (f"{TINY}\nmodel_overrides = 5", PROMPT, "model_overrides: must be tables"),
        (f"{TINY}\n[model_overrides]\ntiny-sd = 5", PROMPT, "model_overrides.tiny-sd: must be a table"),
        # these three were accepted, then crashed after generating (an image without its row)
        (f"{TINY}\nname = 5", PROMPT, "name: must be a non-empty line of text (got 5)"),
        (TINY, PROMPT + "negative = 5\n", "prompts[0].negative: must be text"),
        (f"{TINY}\n[model_overrides.tiny-sd]\nrevision = 5", PROMPT, "model_overrides.tiny-sd.revision: must be"),
        # a MemoryError: the range was built before anything counted it
        (f'{TINY}\nseeds = "0-100000000000"', PROMPT, "seeds: at most 100000 seeds"),
        # ran, and recorded an "ok" image with NaN guidance
        (f"{TINY}\nguidance_scale = nan", PROMPT, "guidance_scale: must be a finite number"),
        (f"{TINY}\nguidance_scale = inf", PROMPT, "guidance_scale: must be a finite number"),
        (f"{TINY}\nguidance_scale = -inf", PROMPT, "guidance_scale: must be a finite number"),
        (f"{TINY}\n[model_overrides.tiny-sd]\nguidance_scale = nan", PROMPT, "model_overrides.tiny-sd.guidance_scale"),
        # an id with a trailing newline passed the regex's `$`
        (TINY, '[[prompts]]\nid = "p\\n"\ntext = "a cat"\n', "prompts[0].id: must be an id matching"),
        # prompt text that is not text, or shows nothing
        (
            TINY,
            '[[prompts]]\nid = "p"\ntext = 12\n',
            "prompts[0].text: must be text with visible characters, no control characters (got 12)",
        ),
        (TINY, '[[prompts]]\nid = "p"\ntext = ["a cat"]\n', "prompts[0].text: must be text with visible characters"),
        (TINY, '[[prompts]]\nid = "p"\ntext = "\\u200b\\u200c\\u200d\\ufeff"\n', "prompts[0].text: must be text"),
        (TINY, '[[prompts]]\nid = "p"\ntext = " \\u202e\\u2066 \\n"\n', "prompts[0].text: must be text"),
        (TINY, '[[prompts]]\nid = "p"\ntext = "a\\u0000cat"\n', "prompts[0].text: must be text"),
    ],
    ids=[
        "prompts-5",
        "model_overrides-5",
        "override-table-5",
        "name-5",
        "negative-5",
        "revision-5",
        "huge-seed-range",
        "guidance-nan",
        "guidance-inf",
        "guidance-minus-inf",
        "override-guidance-nan",
        "id-newline",
        "text-12",
        "text-list",
        "text-zero-width",
        "text-bidi-only",
        "text-nul",
    ],
)
def test_red_team_values_fail_with_one_line_naming_the_field(tmp_path, body, prompts, starts):
    assert one_line_error(suite_file(tmp_path, body, prompts)).startswith(starts)


def test_types_are_strict_but_an_integer_is_a_number(tmp_path):
    for body, starts in [
        ("steps = 7.0", "steps: must be a positive integer"),
        ('steps = "7"', "steps: must be a positive integer"),
        ("batch_size = true", "batch_size: must be a positive integer"),
        ('guidance_scale = "7.5"', "guidance_scale: must be a finite number"),
        ("guidance_scale = true", "guidance_scale: must be a finite number"),
        ("description = 5", "description: must be a string"),
        ('dtype = ["float16"]', "dtype: unknown value ['float16']; allowed: auto, float32"),
        ('[model_overrides.tiny-sd]\nsteps = "x"', "model_overrides.tiny-sd.steps: must be a positive integer"),
        ("[model_overrides.biggan-deep-256]\ntrust_unpinned_weights = 1", "model_overrides.biggan-deep-256.trust"),
        ("[model_overrides.nope]\nsteps = 5", "model_overrides.nope: unknown value 'nope'; allowed: sd15"),
    ]:
        assert one_line_error(suite_file(tmp_path, f"{TINY}\n{body}")).startswith(starts), body
    suite = load_suite(suite_file(tmp_path, f"{TINY}\nguidance_scale = 7\n[model_overrides.tiny-sd]\nlora_scale = 1"))
    assert suite.guidance_scale == [7.0] and isinstance(suite.guidance_scale[0], float)
    assert suite.model_overrides == {"tiny-sd": {"lora_scale": 1.0}}


def test_several_problems_give_one_line_each(tmp_path):
    body = 'models = ["tiny-sd", "tiny-sd"]\nsteps = 0\ncolour = "red"\n[model_overrides.tiny-sd]\nwidth = 12'
    lines = str(pytest.raises(ConfigError, load_suite, suite_file(tmp_path, body, "")).value).splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "prompts",
        "models",
        "steps",
        "model_overrides.tiny-sd.width",
        "colour",
    ]
    assert "'tiny-sd' appears twice" in lines[1] and "allowed: name, prompts, models" in lines[4]


def test_inline_prompts_may_carry_a_category_and_a_challenge(tmp_path):
    labelled = PROMPT + 'category = "Animals"\nchallenge = "Basic"\n'
    (prompt,) = load_suite(suite_file(tmp_path, TINY, labelled)).prompts
    assert (prompt.category, prompt.challenge) == ("Animals", "Basic")
    assert one_line_error(suite_file(tmp_path, TINY, PROMPT + 'category = ""\n')).startswith(
        "prompts[0].category: must be a non-empty line of text"
    )
    unknown = one_line_error(suite_file(tmp_path, TINY, PROMPT + "kind = 1\n"))
    assert unknown == "prompts[0].kind: unknown key; allowed: id, text, negative, category, challenge"


def test_a_suite_reads_its_prompts_from_a_file_or_a_shipped_set(tmp_path):
    (tmp_path / "mine.csv").write_text("text,category\na red cube,Shapes\na blue ball,Shapes\n")
    mine = load_suite(suite_file(tmp_path, f'{TINY}\nprompts_file = "mine.csv"', ""))
    assert [(p.text, p.category) for p in mine.prompts] == [("a red cube", "Shapes"), ("a blue ball", "Shapes")]
    assert len(load_suite("parti").prompts) == 1632 and len(load_suite("parti-200").prompts) == 200


def test_seed_ranges_are_bounded():
    assert len(parse_seeds(f"0-{MAX_SEEDS - 1}")) == MAX_SEEDS
    assert parse_seeds([2**63 - 1]) == [2**63 - 1] and parse_seeds(" 3 - 4 ,9") == [3, 4, 9]
    for bad, hint in [
        (f"0-{MAX_SEEDS}", "at most"),
        (f"0-10,20-{MAX_SEEDS + 10}", "at most"),
        ("0-100000000000", "at most"),
        (str(2**63), "out of range"),
        ("9" * 5000, "out of range"),
        ([2**63], "0..2**63-1"),
        ([-1], "0..2**63-1"),
        ([True], "integers"),
        ([], "at least one"),
        ("", "cannot read"),
        ("\u0663", "cannot read"),  # an Arabic-Indic 3: int() would read it, the suite should not
        (1.5, "expected a range"),
        ("0-3,2", "duplicates"),
    ]:
        with pytest.raises(ConfigError, match="^seeds: ") as err:
            parse_seeds(bad)
        assert hint in str(err.value), bad


def test_suite_built_in_python_is_validated_too():
    ok = {"name": "x", "prompts": [Prompt("p", "a cat")], "models": ["tiny-sd"]}
    assert (
        Suite(**ok, guidance_scale=7, model_overrides={"tiny-sd": {"hub_id": "/m"}}).model_spec("tiny-sd").hub_id
        == "/m"
    )
    for bad, starts in [
        ({"prompts": [Prompt("p", 5)]}, "prompts[0].text:"),
        ({"prompts": [Prompt("p\n", "a cat")]}, "prompts[0].id:"),
        ({"guidance_scale": float("nan")}, "guidance_scale:"),
        ({"seeds": range(10**12)}, "seeds:"),
        ({"model_overrides": {"tiny-sd": {"steps": None}}}, "model_overrides.tiny-sd.steps:"),
        ({"colour": "red"}, "colour: unknown key"),
        ({"steps": 10**5000}, "steps: must be a positive integer (at most 1000) (got <int>)"),
    ]:
        with pytest.raises(ConfigError) as err:
            Suite(**{**ok, **bad})
        assert str(err.value).startswith(starts), bad


def test_command_line_overrides_go_through_the_same_schema():
    suite = load_suite("tiny", {"models": "tiny-sd, tiny-sdxl", "steps": 3, "batch_size": 1, "seeds": "7"})
    assert (suite.models, suite.steps, suite.batch_size, suite.seeds) == (["tiny-sd", "tiny-sdxl"], [3], 1, [7])
    for overrides, starts in [
        ({"models": ""}, "models: need a non-empty list"),
        ({"models": "tiny-sd,tiny-sd"}, "models: 'tiny-sd' appears twice"),
        ({"steps": 0}, "steps: must be a positive integer"),
        ({"seeds": "0-"}, "seeds: cannot read"),
        ({"device": "tpu"}, "device: unknown value 'tpu'; allowed: auto, cpu, cuda"),
    ]:
        with pytest.raises(ConfigError) as err:
            load_suite("tiny", overrides)
        assert str(err.value).startswith(starts), overrides


def test_override_keys_take_the_types_model_spec_declares(tmp_path):
    # lora_scale lands in ModelSpec.lora.scale; every other key is a ModelSpec field.
    hints = {**typing.get_type_hints(ModelSpec), "lora_scale": float}
    good = {int: "8", float: "0.5", str: '"x"', bool: "true"}
    wrong = {int: '"8"', float: '"0.5"', str: "5", bool: "1"}
    for key in OVERRIDABLE:
        kind = next(t for t in (bool, int, float, str) if t in typing.get_args(hints[key]) + (hints[key],))
        load_suite(suite_file(tmp_path, f"{TINY}\n[model_overrides.tiny-biggan]\n{key} = {good[kind]}"))
        message = one_line_error(suite_file(tmp_path, f"{TINY}\n[model_overrides.tiny-biggan]\n{key} = {wrong[kind]}"))
        assert message.startswith(f"model_overrides.tiny-biggan.{key}: must be"), message


def test_unreadable_suite_files_fail_with_one_line(tmp_path):
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes('models = ["tiny-sd"]\n[[prompts]]\nid = "p"\ntext = "caf\u00e9"\n'.encode("latin-1"))
    assert "must be UTF-8" in one_line_error(str(latin1))
    folder = tmp_path / "suites.toml"
    folder.mkdir()
    assert "is a directory" in one_line_error(str(folder))
    assert "is a directory" in one_line_error(str(tmp_path))
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 5000 + "]" * 5000)
    assert "not valid TOML" in one_line_error(str(deep))


def test_cli_refuses_a_latin1_suite_with_exit_code_2(tmp_path, capsys):
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "caf\u00e9"\nmodels = ["tiny-sd"]\n'.encode("latin-1"))
    assert main(["run", "--suite", str(path), "--dry-run"]) == EXIT_CONFIG
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench: error: suite:") and "UTF-8" in err and len(err.splitlines()) == 1


def test_steps_and_guidance_take_a_list_each_value_checked_and_named_by_its_place(tmp_path):
    suite = load_suite(suite_file(tmp_path, f"{TINY}\nsteps = [10, 20, 30]\nguidance_scale = [4, 7.5]"))
    assert (suite.steps, suite.guidance_scale) == ([10, 20, 30], [4.0, 7.5])
    for body, starts in [
        ("steps = [10, 0]", "steps[1]: must be a positive integer"),
        ("steps = [10, 10]", "steps: 10 appears twice"),
        ("steps = []", "steps: must hold 1 to 100 values"),
        ('guidance_scale = [4, "7.5"]', "guidance_scale[1]: must be a finite number"),
    ]:
        assert one_line_error(suite_file(tmp_path, f"{TINY}\n{body}")).startswith(starts), body


def test_the_command_line_reads_an_axis_as_numbers():
    from bench.config_rules import parse_axis

    assert parse_axis("--steps", "10, 20,30") == [10, 20, 30] and parse_axis("--guidance", "4,7.5") == [4, 7.5]
    assert parse_axis("--steps", "25") == [25] and parse_axis("--steps", None) is None
    with pytest.raises(ConfigError, match="--steps: 'ten' is not a number"):
        parse_axis("--steps", "ten")
    suite = load_suite("tiny", {"steps": parse_axis("--steps", "2,3"), "guidance_scale": parse_axis("--g", "5")})
    assert (suite.steps, suite.guidance_scale) == ([2, 3], [5])

"""tracking.config.build: nested dataclasses, choices, bounds, unions and paths, with errors that name the key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import pytest

from tracking.config import RESOURCES_DIR, Range, Score, build, to_plain
from tracking.errors import ConfigError


@dataclass
class Schedule:
    epochs: Annotated[int, Range(ge=1)] = 20
    lr: Annotated[float, Range(gt=0, lt=1)] = 1e-3
    warmup: int | None = None


@dataclass
class Data:
    train: Path = Path("train")
    maps: list[Path] = field(default_factory=list)


@dataclass
class Training:
    schedule: Schedule = field(default_factory=Schedule)
    data: Data = field(default_factory=Data)
    optimizer: Literal["adam", "adamw", "sgd"] = "adamw"
    cut: Score = 0.5
    batch: int | Literal["auto"] = "auto"
    name: str = "run"

    def __post_init__(self) -> None:
        if self.optimizer == "sgd" and self.schedule.lr < 1e-2:
            raise ValueError("optimizer 'sgd' needs lr >= 0.01")


def test_defaults_are_written_once():
    config = build(Training, None)
    assert config == Training()
    assert config.schedule.epochs == 20 and config.data.maps == []


def test_nested_sections_are_built_and_missing_keys_keep_defaults():
    config = build(Training, {"schedule": {"epochs": 3}, "data": None, "optimizer": "Adam"})
    assert config.schedule == Schedule(epochs=3)
    assert config.data == Data()
    assert config.optimizer == "adam"  # matched case-insensitively, stored as the declared choice


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"schedule": {"epochs": "many"}}, r"schedule: key 'epochs' expects an integer, got 'many'"),
        (
            {"schedule": {"epoch": 3}},
            r"schedule: unknown key 'epoch'; valid keys: epochs, lr, warmup; did you mean 'epochs'\?",
        ),
        ({"shedule": {}}, r"unknown key 'shedule'.*did you mean 'schedule'\?"),
        ({"schedule": [1]}, r"schedule: expected a mapping, got list"),
        ({"data": {"maps": ["a", 3]}}, r"data: key 'maps'\[1\] expects a path, got 3"),
    ],
)
def test_errors_name_the_path_of_the_key(values, message):
    with pytest.raises(ConfigError, match=message):
        build(Training, values)


def test_where_prefixes_every_message():
    with pytest.raises(ConfigError, match=r"^training\.schedule: key 'epochs' must be >= 1, got 0$"):
        build(Training, {"schedule": {"epochs": 0}}, where="training")
    with pytest.raises(ConfigError, match=r"^stage 2 \(x\): key 'name' expects a string"):
        build(Training, {"name": 5}, where="stage 2 (x)")


def test_literal_choices_with_did_you_mean():
    choices = r"key 'optimizer' must be one of 'adam', 'adamw', 'sgd'"
    with pytest.raises(ConfigError, match=choices + r", got 'adamv'; did you mean 'adam"):
        build(Training, {"optimizer": "adamv"})
    with pytest.raises(ConfigError, match=r"must be one of .*, got 'rmsprop'$"):
        build(Training, {"optimizer": "rmsprop"})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"schedule": {"epochs": 0}}, "key 'epochs' must be >= 1, got 0"),
        ({"schedule": {"lr": 0}}, r"key 'lr' must be > 0, got 0\.0"),
        ({"schedule": {"lr": 1.0}}, r"key 'lr' must be < 1, got 1\.0"),
        ({"cut": 1.5}, r"key 'cut' must be <= 1, got 1\.5"),
        ({"cut": -0.1}, r"key 'cut' must be >= 0, got -0\.1"),
    ],
)
def test_range_bounds(values, message):
    with pytest.raises(ConfigError, match=message):
        build(Training, values)


def test_range_bounds_are_inclusive_where_declared():
    config = build(Training, {"schedule": {"epochs": 1, "lr": 0.5}, "cut": 1})
    assert config.schedule.epochs == 1 and config.cut == 1.0 and isinstance(config.cut, float)


def test_lossless_number_conversions_only():
    assert build(Schedule, {"epochs": 4.0}).epochs == 4
    with pytest.raises(ConfigError, match=r"key 'epochs' expects an integer, got 2\.5"):
        build(Schedule, {"epochs": 2.5})
    with pytest.raises(ConfigError, match="key 'epochs' expects an integer, got True"):
        build(Schedule, {"epochs": True})


def test_unions():
    assert build(Schedule, {"warmup": None}).warmup is None
    assert build(Schedule, {"warmup": 5}).warmup == 5
    with pytest.raises(ConfigError, match="key 'warmup' expects an integer, got 'soon'"):
        build(Schedule, {"warmup": "soon"})
    assert build(Training, {"batch": 64}).batch == 64
    assert build(Training, {"batch": "AUTO"}).batch == "auto"
    with pytest.raises(ConfigError, match=r"key 'batch' .*, got 2\.5"):
        build(Training, {"batch": 2.5})
    # a choice missed by a string is the more useful message than "expects int or 'auto'"
    with pytest.raises(ConfigError, match="did you mean 'auto'"):
        build(Training, {"batch": "aut"})


def test_post_init_errors_are_prefixed_with_the_section():
    with pytest.raises(ConfigError, match=r"^training: optimizer 'sgd' needs lr >= 0\.01$"):
        build(Training, {"optimizer": "sgd"}, where="training")
    assert build(Training, {"optimizer": "sgd", "schedule": {"lr": 0.1}}).optimizer == "sgd"


def test_paths_resolve_against_base_dir_and_builtin(tmp_path):
    config = build(
        Training,
        {"data": {"train": "events", "maps": ["builtin:module_map_default.npz", "/abs/m.npz"]}},
        base_dir=tmp_path,
    )
    assert config.data.train == tmp_path / "events"
    assert config.data.maps == [RESOURCES_DIR / "module_map_default.npz", Path("/abs/m.npz")]
    assert config.data.maps[0].is_file()
    # without a base_dir, paths are kept as written
    assert build(Data, {"train": "events"}).train == Path("events")


def test_missing_required_key():
    @dataclass
    class Needs:
        checkpoint: Path
        cut: float = 0.5

    with pytest.raises(ConfigError, match="stage: missing required key\\(s\\): checkpoint"):
        build(Needs, {"cut": 0.3}, where="stage")


def test_to_plain_round_trips():
    config = build(Training, {"schedule": {"epochs": 3}, "data": {"maps": ["a.npz"]}})
    plain = to_plain(config)
    assert plain["data"]["maps"] == ["a.npz"] and plain["schedule"]["epochs"] == 3
    assert build(Training, plain) == config

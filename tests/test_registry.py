from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from tracking import registry
from tracking.errors import ConfigError, PluginError


@pytest.fixture
def scratch_plugin():
    @registry.register("graph_builder", "Test-Scratch_Builder")
    class Scratch:
        """A scratch plugin for the registry tests.

        More text that `trackpipe plugins` does not show.
        """

        @dataclass
        class Config:
            radius: float = 1.0
            k: int = 4
            mode: Literal["a", "b"] = "a"
            path: Path | None = None
            tags: list[str] | None = None
            flag: bool = False

        def __init__(self, config):
            self.config = config

        def __call__(self, event):
            return event

    yield Scratch
    registry.unregister("graph_builder", "test_scratch_builder")


def test_names_are_normalised(scratch_plugin):
    info = registry.get("graph_builder", "TEST_SCRATCH-builder")
    assert info.cls is scratch_plugin and info.name == "test_scratch_builder"
    assert info.doc == "A scratch plugin for the registry tests."
    assert info.origin == "tests" or info.origin  # defined in a test module, origin is its top package


def test_unknown_name_lists_known_and_closest(scratch_plugin):
    with pytest.raises(PluginError) as err:
        registry.get("graph_builder", "test_scratch_buildr")
    assert "test_scratch_builder" in str(err.value) and "did you mean" in str(err.value)
    with pytest.raises(PluginError, match="unknown plugin kind 'graph_bulder'.*did you mean 'graph_builder'"):
        registry.get("graph_bulder", "x")


def test_duplicate_registration_fails(scratch_plugin):
    with pytest.raises(PluginError, match="registered twice"):

        @registry.register("graph_builder", "test_scratch_builder")
        class Other:
            @dataclass
            class Config:
                pass

            def __init__(self, config):
                pass


def test_plugin_needs_config_dataclass():
    with pytest.raises(PluginError, match="Config"):

        @registry.register("writer", "no_config")
        class NoConfig:
            pass


def test_config_keys_and_types_checked(scratch_plugin):
    obj = registry.create(
        "graph_builder", "test_scratch_builder", {"radius": 2, "path": "a/b", "tags": ["x"], "flag": True}
    )
    assert obj.config.radius == 2.0 and isinstance(obj.config.radius, float)
    assert obj.config.path == Path("a/b") and obj.config.tags == ["x"] and obj.config.flag is True
    with pytest.raises(ConfigError, match="unknown key 'radus'.*did you mean 'radius'"):
        registry.create("graph_builder", "test_scratch_builder", {"radus": 2})
    with pytest.raises(ConfigError, match="key 'k' expects an integer, got 'four'"):
        registry.create("graph_builder", "test_scratch_builder", {"k": "four"})
    with pytest.raises(ConfigError, match="key 'k' expects an integer, got 2.5"):
        registry.create("graph_builder", "test_scratch_builder", {"k": 2.5})
    with pytest.raises(ConfigError, match="key 'mode' must be one of 'a', 'b'"):
        registry.create("graph_builder", "test_scratch_builder", {"mode": "c"})
    with pytest.raises(ConfigError, match="key 'flag' expects true or false"):
        registry.create("graph_builder", "test_scratch_builder", {"flag": "yes"})


def test_first_party_plugins_come_from_entry_points():
    names = {(i.kind, i.name) for i in registry.available()}
    assert ("track_builder", "truth") in names
    truth = registry.get("track_builder", "truth")
    assert truth.origin == "trackpipe"
    assert registry.failed_plugins() == []


def test_broken_plugin_module_is_reported_not_fatal(monkeypatch):
    import importlib.metadata as md

    good = list(md.entry_points(group=registry.ENTRY_POINT_GROUP))
    broken = md.EntryPoint(name="broken", value="tracking_no_such_module_xyz", group=registry.ENTRY_POINT_GROUP)

    def fake_entry_points(group=None):
        assert group == registry.ENTRY_POINT_GROUP
        return [*good, broken]

    monkeypatch.setattr(registry.importlib.metadata, "entry_points", fake_entry_points)
    registry.load_plugins(reload=True)
    try:
        failures = registry.failed_plugins()
        assert [f.entry_point for f in failures] == ["broken = tracking_no_such_module_xyz"]
        assert "ModuleNotFoundError" in failures[0].error
        assert registry.get("track_builder", "truth")  # the others still load
        with pytest.raises(PluginError, match="failed to import: broken"):
            registry.get("reader", "nope")
    finally:
        monkeypatch.undo()
        registry.load_plugins(reload=True)
    assert registry.failed_plugins() == []

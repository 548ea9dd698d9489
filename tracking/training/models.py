"""The models ``trackpipe train`` trains: any registered ``model`` plugin that follows this contract.

A trainable model is a ``torch.nn.Module`` registered with ``@tracking.registry.register("model", NAME)``
(which also requires a ``hparams`` property returning its constructor arguments as plain types, so that
a checkpoint rebuilds it). It is an edge classifier:

- ``forward(x, edge_index, edge_attr)`` takes node features ``x`` float ``[N, node_features]``
  (:func:`tracking.nn.features.node_features`), ``edge_index`` int64 ``[2, E]`` (directed inner ->
  outer) and ``edge_attr`` float ``[E, edge_features]`` (the first ``edge_features`` columns of
  :func:`tracking.nn.features.edge_features`; ``[E, 0]`` when the model takes none), and returns one
  logit per edge, float ``[E]``; the loss is class-weighted BCE on those logits.
- Constructor arguments come from the config's ``model:`` section. ``node_features`` is not a key: when
  the constructor takes it, training passes the width of the features. ``edge_features``, when the
  constructor takes it, must be 0, 7 or 10 (the constructor's default applies when the key is not
  given); ``checkpoint_iterations`` defaults to ``memory.checkpoint_iterations``.
- A model with message passing has an ``n_iterations`` attribute: the halo depth that keeps partitioned
  steps (``memory``, ``schedule.steps_per_event``) exact. Without it the model is taken as per-edge.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

from torch import nn

from .. import registry
from ..config import build
from ..errors import ConfigError, PluginError
from ..nn import EdgeFilter, InteractionGNN
from ..nn.features import EDGE_FEATURE_WIDTHS, NUM_EDGE_FEATURES, NUM_NODE_FEATURES
from .config import TrainConfig

_FORWARD_ARGUMENTS = ("x", "edge_index", "edge_attr")


def _trainable(info: registry.PluginInfo) -> None:
    params = list(inspect.signature(info.cls.forward).parameters.values())[1:]  # type: ignore[attr-defined]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in params)
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if not variadic and len(positional) < len(_FORWARD_ARGUMENTS):
        raise ConfigError(
            f"model: key 'name': model {info.name!r} ({info.cls.__qualname__}) is not an edge classifier: "
            f"trackpipe train needs forward({', '.join(_FORWARD_ARGUMENTS)}) -> edge logits [E], "
            f"it has forward({', '.join(p.name for p in params)})"
        )


def model_arguments(config: TrainConfig) -> dict[str, Any]:
    """The constructor arguments of the configured model (config keys plus the feature widths); raises
    :class:`ConfigError` naming the key when the model is unknown, not trainable, or the keys do not fit."""
    try:
        info = registry.get("model", config.model.name)
    except PluginError as err:
        raise ConfigError(f"model: key 'name': {err}") from err
    _trainable(info)
    takes = {f.name: f for f in dataclasses.fields(info.config_class)}
    arguments = dict(config.model.hparams)
    if "node_features" in arguments:
        raise ConfigError(f"model: key 'node_features' is set by tracking.nn.features ({NUM_NODE_FEATURES}); remove it")
    if "node_features" in takes:
        arguments["node_features"] = NUM_NODE_FEATURES
    if "edge_features" in takes:
        width = arguments.get("edge_features", takes["edge_features"].default)
        if width is not dataclasses.MISSING and width not in EDGE_FEATURE_WIDTHS:
            raise ConfigError(
                f"model: key 'edge_features' must be one of {', '.join(map(str, EDGE_FEATURE_WIDTHS))} "
                f"(0 = no edge inputs, 7 = doublet features only, {NUM_EDGE_FEATURES} = all), got {width!r}"
            )
    if "checkpoint_iterations" in takes:
        arguments.setdefault("checkpoint_iterations", config.memory.checkpoint_iterations)
    build(info.config_class, arguments, where="model")
    return arguments


def build_model(config: TrainConfig) -> nn.Module:
    """The configured model with freshly initialised weights (seeded by the caller)."""
    return registry.create("model", config.model.name, model_arguments(config), where="model")


def _unwrapped(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)  # the model inside a DistributedDataParallel wrapper


def _hparams(model: nn.Module) -> dict[str, Any]:
    return model.hparams  # type: ignore[return-value]  # a registered model's property, not a submodule


def model_edge_width(model: nn.Module) -> int:
    """Edge-feature columns ``model`` (or the model inside a DDP wrapper) takes: 0, 7 or 10."""
    return int(_hparams(_unwrapped(model)).get("edge_features", 0) or 0)


def message_passing_hops(model: nn.Module) -> int:
    """Halo depth that makes partitions exact: the model's message-passing iterations; 0 for per-edge models."""
    return int(getattr(_unwrapped(model), "n_iterations", 0))


def bytes_per_edge(model: nn.Module, checkpointing: bool) -> int:
    """Rough training activation bytes per edge, to turn ``memory.max_bytes`` into an edge budget.

    Per iteration the InteractionGNN keeps the edge MLP's input (3 hidden) and each layer's linear,
    LayerNorm and activation outputs (3 hidden per layer) for the edges, float32; nodes are fewer than
    edges in tracking graphs and are folded into a factor 1.5. With checkpointing only the iteration
    boundaries stay alive, plus one iteration being recomputed.
    """
    h = _hparams(model)
    if isinstance(model, InteractionGNN):
        per_iteration = 4 * h["hidden"] * (3 + 3 * h["mlp_layers"] + 1)
        kept = 1 + (2 if checkpointing else h["n_iterations"] + 1)
        return int(1.5 * per_iteration * kept)
    if isinstance(model, EdgeFilter):
        return int(4 * h["hidden"] * 3 * h["n_layers"] * 1.5)
    raise ConfigError(
        f"memory: key 'max_bytes' needs an activation estimate, which model {type(model).__name__} has none of; "
        "use memory.max_edges"
    )


def edge_budget(config: TrainConfig, model: nn.Module) -> int | None:
    """The most edges one partition may hold under ``memory.max_edges`` / ``memory.max_bytes`` (None: no limit)."""
    budgets = []
    if config.memory.max_edges is not None:
        budgets.append(config.memory.max_edges)
    if config.memory.max_bytes is not None:
        budgets.append(max(1, config.memory.max_bytes // bytes_per_edge(model, config.memory.checkpoint_iterations)))
    return min(budgets) if budgets else None

"""The multilayer perceptron every model in :mod:`tracking.nn` is built from (ACORN's ``make_mlp``)."""

from __future__ import annotations

from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
}


def activation_class(name: str) -> type[nn.Module]:
    """The ``nn.Module`` class of activation ``name`` (one of :data:`ACTIVATIONS`)."""
    try:
        return ACTIVATIONS[name.lower()]
    except KeyError:
        raise ValueError(f"activation={name!r}: expected one of {', '.join(ACTIVATIONS)}") from None


def make_mlp(
    in_features: int,
    hidden: int,
    out_features: int,
    n_layers: int = 2,
    *,
    layer_norm: bool = True,
    activation: str = "silu",
    output_activation: bool = False,
) -> nn.Sequential:
    """``n_layers`` linear layers: ``in -> hidden -> ... -> hidden -> out``.

    Every hidden layer is ``Linear -> [LayerNorm] -> activation``. With ``output_activation`` the last
    layer is too (encoders and message networks, whose outputs feed further layers); without it the
    last layer is a bare ``Linear`` (output heads producing logits).

    Args:
        in_features: input width.
        hidden: width of the hidden layers.
        out_features: output width.
        n_layers: number of ``Linear`` layers, >= 1 (default 2).
        layer_norm: LayerNorm after each activated linear layer (default True).
        activation: one of ``relu, silu, gelu, tanh, leaky_relu`` (default ``silu``).
        output_activation: also normalise and activate the last layer (default False).
    """
    if n_layers < 1:
        raise ValueError(f"n_layers must be >= 1, got {n_layers}")
    for name, value in (("in_features", in_features), ("hidden", hidden), ("out_features", out_features)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    act = activation_class(activation)
    sizes = [in_features] + [hidden] * (n_layers - 1) + [out_features]
    layers: list[nn.Module] = []
    for i in range(n_layers):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < n_layers - 1 or output_activation:
            if layer_norm:
                layers.append(nn.LayerNorm(sizes[i + 1]))
            layers.append(act())
    return nn.Sequential(*layers)

"""InteractionGNN: shapes, an explicit one-iteration oracle, equivariance, gradients, determinism,
activation checkpointing, and a small overfit run."""

from __future__ import annotations

import pytest
import torch

from tracking.nn import InteractionGNN


def toy_graph(n: int = 40, e: int = 120, seed: int = 0, node_features: int = 4, edge_features: int = 10):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, node_features, generator=g)
    edge_index = torch.randint(0, n, (2, e), generator=g)
    edge_attr = torch.randn(e, edge_features, generator=g)
    return x, edge_index, edge_attr


def small(**kw) -> InteractionGNN:
    torch.manual_seed(kw.pop("seed", 0))
    return InteractionGNN(**{"hidden": 16, "n_iterations": 3, **kw})


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"recurrent": False},
        {"aggregation": "mean", "activation": "relu", "layer_norm": False},
        {"aggregation": "max", "mlp_layers": 1, "output_layers": 1},
        {"n_iterations": 0},
        {"edge_features": 0},
    ],
)
def test_shapes(kw):
    model = small(**kw)
    x, ei, ea = toy_graph(edge_features=model.edge_features)
    logits = model(x, ei, ea if model.edge_features else None)
    assert logits.shape == (ei.shape[1],) and logits.dtype == torch.float32
    assert torch.isfinite(logits).all()


def test_empty_graph_and_isolated_nodes():
    model = small()
    x, _, _ = toy_graph(n=5)
    assert model(x, torch.zeros(2, 0, dtype=torch.int64), torch.zeros(0, 10)).shape == (0,)
    # nodes 2..4 have no edges at all
    assert model(x, torch.tensor([[0], [1]]), torch.zeros(1, 10)).shape == (1,)


def test_iteration_matches_explicit_loop():
    """h' = h + phi_N([h, sum_in e', sum_out e']) with e' = e + phi_E([e, h_src, h_dst]), node by node."""
    model = small(recurrent=False).double()
    n, e, hidden = 12, 30, 16
    g = torch.Generator().manual_seed(3)
    h = torch.randn(n, hidden, generator=g, dtype=torch.float64)
    edge = torch.randn(e, hidden, generator=g, dtype=torch.float64)
    ei = torch.randint(0, n, (2, e), generator=g)
    got_h, got_e = model._iteration(h, edge, ei, step=1)

    edge_net, node_net = model.edge_networks[1], model.node_networks[1]
    want_e = torch.stack([edge[k] + edge_net(torch.cat([edge[k], h[ei[0, k]], h[ei[1, k]]])) for k in range(e)])
    want_h = []
    for i in range(n):
        incoming = want_e[ei[1] == i].sum(0)
        outgoing = want_e[ei[0] == i].sum(0)
        want_h.append(h[i] + node_net(torch.cat([h[i], incoming, outgoing])))
    torch.testing.assert_close(got_e, want_e)
    torch.testing.assert_close(got_h, torch.stack(want_h))


def test_node_and_edge_permutation_equivariance():
    model = small().double().eval()
    x, ei, ea = toy_graph()
    x, ea = x.double(), ea.double()
    node_perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(1))
    edge_perm = torch.randperm(ei.shape[1], generator=torch.Generator().manual_seed(2))
    new_id = torch.empty_like(node_perm)
    new_id[node_perm] = torch.arange(len(node_perm))
    out = model(x, ei, ea)
    permuted = model(x[node_perm], new_id[ei][:, edge_perm], ea[edge_perm])
    torch.testing.assert_close(permuted, out[edge_perm])


def test_every_parameter_gets_a_gradient():
    model = small(recurrent=False)
    x, ei, ea = toy_graph()
    model(x, ei, ea).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_same_seed_same_model_and_training():
    def train(seed: int) -> tuple[torch.Tensor, dict]:
        model = small(seed=seed)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        x, ei, ea = toy_graph()
        y = (ea[:, 0] > 0).float()
        for _ in range(3):
            opt.zero_grad()
            torch.nn.functional.binary_cross_entropy_with_logits(model(x, ei, ea), y).backward()
            opt.step()
        return model(x, ei, ea).detach(), model.state_dict()

    out_a, sd_a = train(7)
    out_b, sd_b = train(7)
    out_c, _ = train(8)
    assert torch.equal(out_a, out_b)
    assert all(torch.equal(sd_a[k], sd_b[k]) for k in sd_a)
    assert not torch.equal(out_a, out_c)


def test_activation_checkpointing_gives_same_outputs_and_gradients():
    plain = small(recurrent=False)
    ckpt = small(recurrent=False, checkpoint_iterations=True)
    ckpt.load_state_dict(plain.state_dict())
    x, ei, ea = toy_graph()
    grads = []
    for model in (plain, ckpt):
        model.train()
        out = model(x, ei, ea)
        out.square().sum().backward()
        grads.append((out.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    for name in grads[0][1]:
        torch.testing.assert_close(grads[0][1][name], grads[1][1][name], msg=name)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m, x, ei, ea: m(x[:, :3], ei, ea), "x must have shape"),
        (lambda m, x, ei, ea: m(x, ei.int(), ea), "edge_index must be int64"),
        (lambda m, x, ei, ea: m(x, ei, None), "edge_attr must have shape"),
        (lambda m, x, ei, ea: m(x, ei, ea[:, :5]), "edge_attr must have shape"),
    ],
)
def test_input_errors(call, match):
    model = small()
    with pytest.raises(ValueError, match=match):
        call(model, *toy_graph())


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="aggregation"):
        InteractionGNN(aggregation="min")
    with pytest.raises(ValueError, match="activation"):
        InteractionGNN(activation="swish2")


def test_overfits_a_separable_labelling():
    """A rule mixing edge and endpoint features is learned in a few hundred CPU steps."""
    torch.manual_seed(0)
    x, ei, ea = toy_graph(n=150, e=500, seed=5)
    y = ((ea[:, 0] + x[ei[0], 1] - x[ei[1], 2]) > 0).float()
    model = InteractionGNN(hidden=32, n_iterations=2)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(300):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x, ei, ea), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    accuracy = ((model(x, ei, ea) > 0).float() == y).float().mean().item()
    assert losses[-1] < 0.2 * losses[0], (losses[0], losses[-1])
    assert accuracy > 0.97


@pytest.mark.parametrize("aggregation", ["sum", "max"])
def test_bf16_autocast_forward_and_backward(aggregation):
    model = small(aggregation=aggregation, checkpoint_iterations=True)
    x, ei, ea = toy_graph()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, ei, ea)
    out.float().sum().backward()
    assert torch.isfinite(out.float()).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())

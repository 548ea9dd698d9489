"""Message aggregation (tracking.nn.aggregate): native torch (index_add_ / scatter_reduce) against
torch-scatter when it is installed; otherwise against the obvious alternatives a user would write --
a sparse COO matmul and a dense one-hot matmul for sum/mean, sort + ``torch.segment_reduce`` for max.
The ``baseline`` column names which one each row used. GPU rows are added when CUDA is usable.
"""

from __future__ import annotations

import torch

from .common import Row, best_time, format_table


def _inputs(num_edges: int, num_nodes: int, features: int, device: torch.device, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    messages = torch.randn(num_edges, features, generator=g).to(device)
    index = torch.randint(0, num_nodes, (num_edges,), generator=g).to(device)
    return messages, index


def _sparse_matmul(messages, index, num_nodes, reduce):
    """sum/mean as a [N, E] sparse incidence matrix times the messages (matrix built each call)."""
    e = messages.shape[0]
    rows = torch.stack([index, torch.arange(e, device=index.device)])
    incidence = torch.sparse_coo_tensor(
        rows, torch.ones(e, device=messages.device), (num_nodes, e), check_invariants=False
    )
    out = torch.sparse.mm(incidence, messages)
    if reduce == "mean":
        out = out / torch.bincount(index, minlength=num_nodes).clamp(min=1).unsqueeze(1)
    return out


def _dense_matmul(messages, index, num_nodes, reduce):
    """sum/mean as a dense one-hot [N, E] matrix times the messages: O(N E F), small sizes only."""
    one_hot = torch.zeros(num_nodes, messages.shape[0], device=messages.device)
    one_hot[index, torch.arange(messages.shape[0], device=messages.device)] = 1.0
    out = one_hot @ messages
    if reduce == "mean":
        out = out / one_hot.sum(1, keepdim=True).clamp(min=1)
    return out


def _segment_max(messages, index, num_nodes, reduce):
    """max by sorting messages by node and reducing contiguous segments."""
    order = torch.argsort(index)
    lengths = torch.bincount(index, minlength=num_nodes)
    out = torch.segment_reduce(messages[order], "max", lengths=lengths, unsafe=True)
    return torch.where(lengths.unsqueeze(1) > 0, out, torch.zeros_like(out))


def _timed(fn, device: torch.device, repeat: int):
    def call():
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return best_time(call, repeat=repeat)


def _rows_for(device: torch.device, quick: bool) -> list[Row]:
    from tracking import accel
    from tracking.nn.aggregation import aggregate

    repeat = 3 if quick else 5
    if device.type == "cuda":
        sizes = [(200_000, 50_000, 64)] if quick else [(1_000_000, 120_000, 128), (5_000_000, 600_000, 64)]
    else:
        sizes = [(50_000, 10_000, 32)] if quick else [(500_000, 100_000, 64), (2_000_000, 120_000, 32)]
    small = (10_000, 2_000, 32)  # where a dense one-hot matrix (N x E floats) still fits
    rows: list[Row] = []

    def add(name, size_words, ours, base_name, base, extra):
        ours_s = _timed(ours, device, repeat)
        base_s = _timed(base, device, repeat) if base is not None else None
        rows.append(Row(name, size_words, ours_s, base_name if base is not None else "", base_s, extra))

    for e, n, f in sizes:
        messages, index = _inputs(e, n, f, device)
        words = f"E={e:,} N={n:,} F={f} ({device.type})"
        for reduce in ("sum", "mean", "max"):

            def ours(reduce=reduce):
                return aggregate(messages, index, n, reduce, backend="native")

            if accel.TORCH_SCATTER:
                base_name = "torch-scatter"

                def base(reduce=reduce):
                    return aggregate(messages, index, n, reduce, backend="torch_scatter")
            elif reduce == "max":
                base_name, base = "sort + segment_reduce", (lambda: _segment_max(messages, index, n, "max"))
            else:
                base_name = "sparse COO matmul"

                def base(reduce=reduce):
                    return _sparse_matmul(messages, index, n, reduce)

            add(f"aggregate {reduce} native", words, ours, base_name, base, {"device": device.type, "reduce": reduce})

        # forward + backward, as in training
        grad = torch.randn(n, f, device=device)
        leaf = messages.clone().requires_grad_()

        def ours_fb():
            (aggregate(leaf, index, n, "sum", backend="native") * grad).sum().backward()

        if accel.TORCH_SCATTER:

            def base_fb():
                (aggregate(leaf, index, n, "sum", backend="torch_scatter") * grad).sum().backward()

            fb_name = "torch-scatter"
        else:

            def base_fb():
                (_sparse_matmul(leaf, index, n, "sum") * grad).sum().backward()

            fb_name = "sparse COO matmul"
        add("aggregate sum native, forward+backward", words, ours_fb, fb_name, base_fb, {"device": device.type})

    e, n, f = small
    messages, index = _inputs(e, n, f, device)
    for reduce in ("sum", "mean"):
        add(
            f"aggregate {reduce} native",
            f"E={e:,} N={n:,} F={f} ({device.type})",
            lambda reduce=reduce: aggregate(messages, index, n, reduce, backend="native"),
            "dense one-hot matmul",
            lambda reduce=reduce: _dense_matmul(messages, index, n, reduce),
            {"device": device.type, "reduce": reduce},
        )
    return rows


def run(quick: bool = False) -> list[Row]:
    from tracking import accel

    rows = _rows_for(torch.device("cpu"), quick)
    if accel.cuda_available():
        rows += _rows_for(torch.device("cuda"), quick)
    backend = "torch-scatter" if accel.TORCH_SCATTER else "native torch"
    for row in rows:
        row.extra = {**(row.extra or {}), "auto_backend": backend, "torch_threads": torch.get_num_threads()}
    return rows


if __name__ == "__main__":
    import json

    result = run()
    print(format_table(result))
    print(json.dumps([r.as_dict() for r in result], indent=2))

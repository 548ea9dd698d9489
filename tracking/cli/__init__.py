"""The ``trackpipe`` command line.

Each command lives in its own module of this package and is imported only when it runs, so that
``trackpipe --help`` is fast. Add a command by adding a row to ``COMMANDS``.
"""

from __future__ import annotations

import importlib

import click

# name -> (module in tracking.cli, function, one-line help shown by `trackpipe --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "build-map": ("build_map", "build_map", "Learn a module map (or layer-pair map) from truth in training events."),
    "bench": ("bench", "bench", "Run the benchmark suite: ours vs baselines, table + JSON (+ plot)."),
    "demo": ("demo", "demo", "Simulate events, run the default pipeline, evaluate and plot, in one command."),
    "evaluate": (
        "evaluate",
        "evaluate",
        "Score a tracks file against truth: efficiency, fake and duplicate rates, TrackML score, plots.",
    ),
    "export": (
        "export",
        "export",
        "Export a pipeline's edge classifiers (TorchScript, ONNX) and module map, or a Triton repository.",
    ),
    "fit": (
        "fit",
        "fit",
        "Learn a complete pipeline (map, filter, GNN, cuts) from labelled events of your own detector.",
    ),
    "info": ("info", "info", "Show version, CUDA build and devices, torch, torch-scatter and threads."),
    "run": ("run", "run", "Reconstruct tracks from ACTS ROOT or TrackML CSV input and write tracks.root."),
    "plugins": ("plugins", "plugins", "List registered plugins: kind, name, origin package, description."),
    "serve": ("serve", "serve", "Serve a pipeline over HTTP on Ray Serve: events in, track labels out, batched."),
    "simulate": ("simulate", "simulate", "Generate TrackML-like events with truth (ACTS ROOT or TrackML CSV)."),
    "tune": ("tune", "tune", "Search training hyper-parameters with Optuna (shared journal storage, resumable)."),
    "train": (
        "train",
        "train",
        "Train an edge classifier from a YAML config (single process, --nproc N, or torchrun).",
    ),
}


class TrackpipeClickError(click.ClickException):
    """One of trackpipe's own errors, shown as one line (no traceback) with exit status 2."""

    exit_code = 2

    def format_message(self) -> str:
        return self.message


def _one_line(err: BaseException) -> str:
    name = type(err).__name__
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        return f"{name}: {err.filename}: {err.strerror}"
    return f"{name}: {err}"


class LazyGroup(click.Group):
    def invoke(self, ctx: click.Context):
        """Every command's own errors (configuration, data, plugins, missing files or extras) become one
        clean line and exit status 2; anything else is a bug and keeps its traceback."""
        from ..errors import TrackpipeError

        try:
            return super().invoke(ctx)
        except (TrackpipeError, OSError) as err:
            raise TrackpipeClickError(_one_line(err)) from err

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="trackpipe", prog_name="trackpipe")
def main() -> None:
    """trackpipe: GNN track reconstruction (hits -> graph -> edge scores -> tracks)."""


__all__ = ["COMMANDS", "main"]

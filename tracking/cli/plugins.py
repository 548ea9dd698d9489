from __future__ import annotations

import click


@click.command()
@click.option(
    "--kind", default=None, help="Only this kind (reader, graph_builder, edge_classifier, track_builder, writer)."
)
def plugins(kind: str | None) -> None:
    """List registered plugins: kind, name, origin package, description."""
    from .. import registry

    infos = registry.available(kind)
    rows = [(i.kind, i.name, i.origin, i.doc) for i in infos]
    header = ("KIND", "NAME", "ORIGIN", "DESCRIPTION")
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(3)]
    for row in [header, *rows]:
        click.echo("  ".join(f"{row[c]:<{widths[c]}}" for c in range(3)) + "  " + row[3])
    failures = registry.failed_plugins()
    if failures:
        click.echo("\nPlugin modules that failed to import:", err=True)
        for f in failures:
            click.echo(f"  {f.entry_point} ({f.origin}): {f.error}", err=True)

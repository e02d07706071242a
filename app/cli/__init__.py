"""The `prism` command line (Typer): one module per command group."""

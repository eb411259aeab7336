"""`python -m backprop_cli` runs the `backprop` command."""

from .cli import app

app(prog_name="backprop")

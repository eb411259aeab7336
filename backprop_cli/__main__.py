"""`python -m backprop_cli` runs the `backprop` command."""

from ._fasthelp import main

main()

"""`python -m segmint`: the same CLI as the `segmint` console script."""

from segmint.cli import main

main()

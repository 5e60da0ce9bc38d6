"""``python -m kongtian`` is the ``kongtian`` command."""

from kongtian.cli import main

main()

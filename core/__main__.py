"""``python -m trackkit``: the same as the ``trackkit`` command."""

import sys

from ._cli import main

sys.exit(main())

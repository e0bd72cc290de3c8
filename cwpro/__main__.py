"""``python -m cwpro``: the ``cwpro`` command line (see :mod:`cwpro.cli`)."""

import sys

from cwpro.cli import main

if __name__ == "__main__":
    sys.exit(main())

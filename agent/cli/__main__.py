"""``python -m agent.cli``: the ``bmp-agent`` console script."""

import sys

from .main import main

sys.exit(main())

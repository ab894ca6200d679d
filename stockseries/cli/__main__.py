"""``python -m stockseries.cli``."""

import sys

from stockseries.cli import main

sys.exit(main())

"""`python -m stratmap` runs the command line."""

import sys

from stratmap.cli import main

sys.exit(main())

"""`python -m sim` runs the capsim command."""

import sys

from sim.cli import main

sys.exit(main())

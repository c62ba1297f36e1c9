"""`python -m collectkit.explore` (and the `collectkit-explore` script): `collectkit explore`."""
import sys

from collectkit.cli.explore import main

if __name__ == "__main__":
    sys.exit(main())

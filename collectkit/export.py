"""`python -m collectkit.export` (and the `collectkit-export` script): `collectkit export`."""
import sys

from collectkit.cli.export import main

if __name__ == "__main__":
    sys.exit(main())

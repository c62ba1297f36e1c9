"""`python -m collectkit.compare` (and the `collectkit-compare` script): `collectkit compare`."""
import sys

from collectkit.cli.compare import main

if __name__ == "__main__":
    sys.exit(main())

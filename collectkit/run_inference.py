"""`python -m collectkit.run_inference` (and the `collectkit-run` script): `collectkit run`."""
import sys

from collectkit.cli.run import main

if __name__ == "__main__":
    sys.exit(main())

"""`python -m collectkit` is the `collectkit` command."""
import sys

from collectkit.cli import main

if __name__ == "__main__":
    sys.exit(main())

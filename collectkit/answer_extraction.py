"""`python -m collectkit.answer_extraction` (and the `collectkit-extract` script): `collectkit extract`."""
import sys

from collectkit.cli.extract import main

if __name__ == "__main__":
    sys.exit(main())

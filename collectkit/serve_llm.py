"""`python -m collectkit.serve_llm` (and the `collectkit-serve` script): `collectkit serve`."""
import sys

from collectkit.cli.serve import main

if __name__ == "__main__":
    sys.exit(main())

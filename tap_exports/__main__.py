"""`tap-exports` / `python -m tap_exports`: the Singer CLI with one-line failures."""

from __future__ import annotations

import logging
import sys

from tap_exports.engine.errors import TapExportsError
from tap_exports.sdk.tap import TapExports


def main() -> None:
    """Run the tap; an expected failure is one log line and exit status 1."""
    # Log redaction is installed by the tap itself, once its config is read (sdk/tap.py).
    try:
        TapExports.cli()
    except TapExportsError as exc:
        logging.getLogger(TapExports.name).error("%s", exc)
        sys.exit(1)


if __name__ == "__main__":
    main()

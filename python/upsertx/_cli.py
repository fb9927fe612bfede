"""The ``upsertx`` command installed with the package: the Rust command line itself."""

import signal
import sys

from . import _native


def main() -> None:
    # Ctrl-C ends the command as it ends the Rust binary (the transaction rolls back).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(_native.cli(["upsertx", *sys.argv[1:]]))


if __name__ == "__main__":
    main()

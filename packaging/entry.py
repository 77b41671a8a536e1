"""What the PyInstaller build runs: the `mqttdesk` command, exactly as the installed console script."""

import sys

from mqttdesk.cli import main

if __name__ == "__main__":
    sys.exit(main())

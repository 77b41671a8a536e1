"""`python -m mqttdesk` is the same as the `mqttdesk` command."""

from __future__ import annotations

from mqttdesk.cli import main

raise SystemExit(main())

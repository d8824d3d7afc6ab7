"""`python -m whoisd` runs the server, like the `whoisd` console script."""

from whoisd.server import main

raise SystemExit(main())

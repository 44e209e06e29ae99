"""``python3 -m double``: run the Metabase API double (see server.main)."""

from double.server import main

raise SystemExit(main())

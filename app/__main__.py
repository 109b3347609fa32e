"""`python -m app` is the same as the `tradingbot` console script."""

from app.cli import main

raise SystemExit(main())

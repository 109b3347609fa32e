"""The built-in drill scenarios, one JSON file each (``tradingbot drill --list``)."""

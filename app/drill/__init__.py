"""Paper-trading drills: a dry-run bot against the fault-injecting offline exchange."""

"""The absl launchers, one per command; each module's ``run`` is its ``jaxau-<name>`` console script."""

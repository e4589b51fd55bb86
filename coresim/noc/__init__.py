"""Synthetic-traffic NoC studies (BookSim2-style): traffic patterns, the warm-up/sample-period driver, sweeps."""

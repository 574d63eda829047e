"""Feeds for the systems a site already runs: XDMoD's storage realm (xdmod.py), Open
OnDemand's quota file (ondemand.py) and a Prometheus textfile of usage (prometheus.py).

Each builder is pure, from the plain rows of rows.py; each writer replaces its file
atomically. publish.py writes the configured feeds after ``manage report``.
"""

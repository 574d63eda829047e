"""What changed between two nights, per volume: the groups, users and project
directories whose bytes or files moved most, with exact deltas, what appeared and what
vanished, and a conservation line (the listed deltas plus "elsewhere" equal the
volume's change).

compute.py is pure (snapshots in, rankings out); tables.py reads the snapshots from the
database; history.py keeps the inspector's rows of every night (``inspector_history``);
command.py is ``humgen-storage changes``.
"""

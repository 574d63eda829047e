"""``notify``: mail each PI, at most once a day, about their groups whose quota the
forecast finds full or filling (message.py composes, sent.py remembers, command.py
sends)."""

"""The HTML report: a static, self-contained site (pages with inline SVG charts, no
JavaScript, nothing fetched at view time) built from the database.

data.py reads plain data (I/O); svg.py draws charts and pages.py builds pages from that
plain data (pure); site.py writes the files; command.py is ``humgen-storage html``.
"""

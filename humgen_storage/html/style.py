"""The pages' one style sheet, inline in every page (nothing fetched at view time)."""

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:70em}
h1{font-size:1.4em}h2{font-size:1.2em;margin-top:1.5em}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.5em 0}
td,th{border-bottom:1px solid #ddd;padding:.2em .6em;text-align:left;white-space:nowrap}
td.bytes,td.used,td.quota,td.delta,td.days,td.files{text-align:right;font-variant-numeric:tabular-nums}
caption{text-align:left;font-weight:600;padding:.3em 0}
.chart{display:block;margin:.5em 0}
.chart .axis{stroke:#888}.chart .tick,.chart .name,.chart .share{font-size:11px;fill:#444}
.chart .point{fill:#1f5fa8}.chart .history{fill:none;stroke:#1f5fa8;stroke-width:2}
.chart .limit{stroke:#b00;stroke-dasharray:4 3}
.chart .forecast{stroke:#d47500;stroke-width:2;stroke-dasharray:6 3}
.chart .interval{fill:#d47500;fill-opacity:.18}
.chart .track{fill:#eee}.chart .bar.within{fill:#1f5fa8}.chart .bar.over{fill:#b00}
.chart .bar.unlimited{fill:#999}
.status.full,.status.critical{color:#b00;font-weight:600}.status.warning{color:#d47500}
.conservation{font-family:monospace;font-size:.9em;color:#555}
.nav{font-size:.9em}
"""

"""Reports of crash replays and sweeps: PNG plots (matplotlib), report.md and a self-contained
report.html, written next to metrics.json.

Modules by role:
    plots   one function per figure, each writing one PNG
    render  the replay report folder (report.md, report.html, metrics.json, plots)
    sweep   the sweep's figure and table
"""

"""Self-contained HTML reports (Bokeh, inline resources) of a run, a compare and a sweep."""

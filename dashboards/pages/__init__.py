"""The dashboard's pages: ``pages/<name>.py`` builds the widgets and calls ``data/<name>.py``.

Each page is a class taking a ``Context``, with a ``panel`` attribute to show and, where it
follows a live feed, a ``tick()`` the session's periodic callback calls.
"""

"""The data functions of the pages: ``data/<name>.py`` serves ``pages/<name>.py``.

Plain functions over an ``AgencyClient`` that return rows, frames and values in display form;
the pages call them in a worker thread, the tests call them directly. Nothing here imports
Panel or a page.
"""

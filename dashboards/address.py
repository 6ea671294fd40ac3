"""The browser's address as the dashboard's state: deep links, Back and Forward.

Panel's ``pn.state.location`` writes the address but never hears Back or Forward (its view
listens to ``hashchange`` only). ``AddressBar`` is a hidden element that does both: a change
of ``query`` from Python is pushed as a new history entry, and a ``popstate`` (Back,
Forward) sets ``query`` from the browser, which ``on_browse`` hands to the dashboard.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import param
from panel.reactive import ReactiveHTML

# the value arrives HTML-escaped; a urlencoded query has no other character to unescape
_PUSH = """
const query = data.query.replace(/&amp;/g, '&');
const now = window.location.search.replace(/^[?]/, '');
if (query !== now) { window.history.pushState({}, '', '?' + query); }
"""
_LISTEN = """
state.pop = () => { data.query = window.location.search.replace(/^[?]/, ''); };
window.addEventListener('popstate', state.pop);
"""


class AddressBar(ReactiveHTML):
    """The query string (without ``?``) in both directions; see the module docstring."""

    query = param.String(default="")

    _template = '<div id="addr" class="address-bar" style="display:none"></div>'
    _scripts = {
        "render": _LISTEN,
        "query": _PUSH,
        "remove": "window.removeEventListener('popstate', state.pop);",
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(height=0, width=0, margin=0, **params)  # type: ignore[no-untyped-call]
        self._pushed = self.query
        #: called with the parameters of an address the browser went to (Back/Forward)
        self.on_browse: Callable[[dict[str, str]], None] | None = None
        self.param.watch(self._changed, "query")

    def push(self, params: dict[str, str]) -> None:
        """Make ``params`` the address (a new history entry when it differs)."""
        query = urlencode({k: v for k, v in params.items() if v})
        self._pushed = query
        self.query = query

    def _changed(self, event: Any) -> None:
        query = event.new.replace("&amp;", "&")
        if query != self._pushed and self.on_browse is not None:
            self._pushed = query
            self.on_browse(dict(parse_qsl(query)))

"""Marker tokens for fixtures, assembled so these test sources do not carry them literally."""

P = "PLACE" + "HOLDER"
TD = "TO" + "DO"
FM = "FIX" + "ME"
NIE = "NotImplemented" + "Error"

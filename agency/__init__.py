"""agency: an operations console for fleets of AI agents."""

from agency.models import __version__

__all__ = ["__version__"]

"""The control plane's services, between the API and the storage repositories.

``ControlPlane`` builds them all at start-up: ``tasks`` (the orchestrator), ``schedules``
(the scheduler), ``alerts``, ``waivers``, ``queries``, ``chat``, ``runbooks``, ``audit``,
``health``, ``tokens`` and ``limiter``, and ``hub`` (the KPI ticker). A service owns its rules
and calls repositories; it never knows HTTP.
"""

from agency.control.plane import ControlPlane
from agency.control.tokens import Principal

__all__ = ["ControlPlane", "Principal"]

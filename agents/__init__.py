"""Mesa models of the city's services: ``agents.traffic`` and ``agents.waste`` (to come)."""

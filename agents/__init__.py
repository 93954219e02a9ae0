"""Mesa models of the city's services: ``agents.traffic`` and ``agents.waste``.

They run on the city model of :mod:`cities` (road network, routing, context) and report their
KPIs through :mod:`agents.kpis`; they never import the layers above (``generative``, ``twin``,
``dashboards``).
"""

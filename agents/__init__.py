"""Mesa models of the city's services: ``agents.traffic`` and ``agents.waste``.

They run on the city model of :mod:`cities` (road network, routing, context) and report their
KPIs through :mod:`agents.kpis`; they never import the layers above (``generative``, ``twin``,
``dashboards``).
"""

from agents.mesa_ids import release_finished_models

# Mesa 3.3 would keep every model this process builds in memory (see agents.mesa_ids)
release_finished_models()

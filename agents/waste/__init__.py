"""The waste-collection twin: bins that fill, trucks that empty them, a policy that picks which
bins to empty when (fixed schedule, fill threshold, forecast) and a planner that routes the
trucks to them (PyVRP, greedy, or the learned planner)."""

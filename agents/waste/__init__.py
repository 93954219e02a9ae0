"""The waste-collection twin: bins that fill, trucks that empty them, and the policies that plan
their rounds (fixed schedule, fill threshold, greedy and PyVRP-planned routes)."""

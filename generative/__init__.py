"""The learned planner: instances, network, training and inference (to come).

Training depends on torch and numpy only, so it runs on an HPC node without the GIS stack.
"""

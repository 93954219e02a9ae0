"""The learned planner: instances (this far), then the network, training and inference.

``generative.instances`` samples a city's daily collection problems from the waste twin and
writes them as numpy files; ``generative.data`` reads them with numpy alone, so training runs on
an HPC node without the GIS stack.
"""

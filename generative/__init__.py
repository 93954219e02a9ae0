"""The learned planner: instances, network, training and inference.

- ``generative.instances`` samples a city's daily collection problems from the waste twin (and
  PyVRP's costs for them) and writes them as numpy files;
- ``generative.data`` reads them with numpy alone, ``generative.env`` holds the routing rules
  as masks, ``generative.model`` the network, ``generative.train`` the training (DDP under
  torchrun, bf16 on GPU, atomic checkpoints via ``generative.checkpoint``): torch + numpy only,
  so training runs on an HPC node without the GIS stack;
- ``generative.propose`` turns a checkpoint into a planner of the waste twin; on the CPU its
  plans come from ``generative.decoding``, the decoder compiled as one loop per plan.
"""

"""The learned planner: instances, network, training and inference, for any city.

- ``generative.corpus`` plans and draws days of many places (cities, windows of them, synthetic
  towns) in parallel processes; ``generative.instances`` samples one place's daily collection
  problems from the waste twin (and PyVRP's costs for them) and writes them as numpy files;
- ``generative.data`` reads them with numpy alone, ``generative.env`` holds the routing rules
  as masks, ``generative.model`` the network, ``generative.train`` the training (DDP under
  torchrun, bf16 on GPU, atomic checkpoints via ``generative.checkpoint``): torch + numpy only,
  so training runs on an HPC node without the GIS stack;
- ``generative.coverage`` holds the range of days a checkpoint was trained on and checks a day
  against it (numpy only);
- ``generative.propose`` turns a checkpoint into a planner of the waste twin; on the CPU its
  plans come from ``generative.decoding``, the decoder compiled as one loop per plan;
- ``generative.finetune`` adapts a trained planner to one city (``twin finetune``).
"""

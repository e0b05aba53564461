# tests/model: the network against its PyTorch reference (committed fixtures).

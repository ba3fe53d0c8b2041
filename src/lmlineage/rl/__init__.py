"""Learning from preferences and rewards (InstructGPT's reward model and PPO, DPO): the losses
(``losses``), sampling with log-probabilities (``rollout``), checkable tasks whose rewards need no
people (``checkable``), and the training loops (``stages``)."""

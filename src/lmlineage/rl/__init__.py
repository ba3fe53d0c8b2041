"""Learning from rewards, preferences and tools: InstructGPT's reward model and PPO, DPO (the
losses, ``losses``; sampling with log-probabilities, ``rollout``; checkable tasks whose rewards
need no people, ``checkable``; the training loops, ``stages``), Sparrow's rule and preference
models and reranking, and LaMDA's tool execution. Objectives stay parameter-free; these compose
models of ours."""

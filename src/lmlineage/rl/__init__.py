"""Learning from rewards, preferences and tools: reward and rule models, reranking, tool execution
(objectives stay parameter-free; these compose models of ours)."""

"""Local inference servers: vLLM and llama.cpp, probing, replicas, process trees."""

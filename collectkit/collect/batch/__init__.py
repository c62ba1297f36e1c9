"""Provider batch APIs and `vllm run-batch`: request files, driver, output."""

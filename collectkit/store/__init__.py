"""Results files: the one appender, the one reader, file limits, safe writes."""

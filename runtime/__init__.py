"""reactor: the runtime that serves streaming models."""

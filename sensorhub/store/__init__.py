"""Sessions on disk and in memory: the recording store, the session model, exports."""

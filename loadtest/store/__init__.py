"""What a run leaves on disk: results.json (versioned), digests of its inputs, the load
generator's samples (read whole, or streamed in bounded memory), baselines and history."""

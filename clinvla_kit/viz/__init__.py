"""clinvla_kit.viz."""

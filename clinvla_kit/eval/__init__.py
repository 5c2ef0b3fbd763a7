"""clinvla_kit.eval."""

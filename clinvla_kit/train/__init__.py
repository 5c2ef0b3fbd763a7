"""clinvla_kit.train."""

"""clinvla_kit.data.sources."""

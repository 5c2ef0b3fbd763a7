"""clinvla_kit.model."""

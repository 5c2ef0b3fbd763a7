"""clinvla_kit.demo."""

"""clinvla-kit."""

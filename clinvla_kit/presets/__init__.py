"""Named run configurations (JSON), loaded with clinvla_kit.config.load_preset."""

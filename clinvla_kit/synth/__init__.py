"""clinvla_kit.synth."""

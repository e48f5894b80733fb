"""Keeping pairs: checkpoints on disk, the pair menu's loading, the Hugging Face Hub."""

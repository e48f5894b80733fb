"""The networks: the twins (with BN and without), folding BN into convolutions, and noisy BN."""

"""Measuring trained twins: inference and TTA, accuracy reports, activation statistics, evolution, landscape,
test-time adaptation."""

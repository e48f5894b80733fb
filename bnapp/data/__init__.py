"""CIFAR-10 as uint8 tensors, its splits and augmentation; uploaded images; corruptions for the shift views."""

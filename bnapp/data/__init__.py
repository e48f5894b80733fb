"""CIFAR-10 (and Figure 1's Fashion-MNIST) as uint8 tensors, its splits and augmentation; uploaded images;
corruptions for the shift views."""

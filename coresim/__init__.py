"""coresim: a cycle-accurate simulator of digital many-core neuromorphic chips."""

__version__ = "0.1.0"

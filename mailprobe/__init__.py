"""mailprobe: test SMTP email providers at scale."""

__version__ = "0.1.0"

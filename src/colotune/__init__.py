"""colotune: tune, deploy and audit low-latency trading servers in exchange colocation."""

__version__ = "0.1.0"

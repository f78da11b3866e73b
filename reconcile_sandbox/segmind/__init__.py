"""The emulated Segmind fine-tuning API (``api.py``: its routes and its ``PROVIDER``)."""

"""The emulated Qubrid fine-tuning API: routes and ``PROVIDER`` (``api.py``), request checks
(``requests.py``), CSV checks (``csv_inspection.py``), job progress (``lifecycle.py``), tables
(``tables.py``) and seeding (``seed.py``)."""

"""The emulated Cohere fine-tuning and datasets APIs: ``PROVIDER`` (``api.py``), the fine-tuned
model routes (``finetuning.py``, bodies checked in ``finetune_requests.py``, lists paged by
``paging.py``), the dataset routes (``datasets.py``, contents checked in
``dataset_validation.py``) and their tables (``tables.py``)."""

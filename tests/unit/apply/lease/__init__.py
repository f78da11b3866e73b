"""Tests of the writer lease (reconciler.apply.lease): records, the stores, holding."""

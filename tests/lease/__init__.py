"""Tests of the writer lease (reconciler.lease): records, the git and local stores, holding."""

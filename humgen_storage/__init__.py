"""humgen_storage: nightly Lustre storage accounting from mpistat crawls."""

__version__ = "0.1.0"

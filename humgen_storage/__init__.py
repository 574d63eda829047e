"""humgen_storage: nightly Lustre storage accounting from mpistat crawls."""

import os

__version__ = "0.1.0"

# numpy's OpenBLAS starts a thread per core when numpy is imported, and they spin while
# idle; nothing here does linear algebra, and the parallel work is the jobs' own
# processes and threads. Set before any module imports numpy; a site may still set it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

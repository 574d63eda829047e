"""The compiled kernel (humgen_storage/_kernel.c); everything else is in setup.cfg.

Optional: where no C compiler or Python headers are found, the package installs
without it and runs the numpy path (mpistat/kernel.py says so once).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "humgen_storage._kernel",
            ["humgen_storage/_kernel.c"],
            depends=[f"humgen_storage/_kernel_{job}.c" for job in ("report", "inspect", "split")],
            extra_compile_args=["-O3", "-std=c99", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        )
    ]
)

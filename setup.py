"""setuptools hook: builds the cffi extension declared in build_ext.py.

All metadata lives in pyproject.toml; cffi's out-of-line API mode still
needs the `cffi_modules` keyword, which only setup() accepts.
"""

from setuptools import setup

setup(cffi_modules=["build_ext.py:ffibuilder"])

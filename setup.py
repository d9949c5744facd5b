"""Builds the native part of the hyperaccel device (a PrivateUse1 backend, in the manner of PyTorch's
OpenReg) against the installed torch. Everything else is declared in pyproject.toml.

Install with `pip install --no-build-isolation -e .` so the extension compiles against the torch
already in the environment (sglang pins it) rather than a fresh copy in an isolated build env.
"""

import os
from glob import glob

from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, CppExtension, include_paths

setup(
    ext_modules=[
        CppExtension(
            name="sglang_hyperaccel.device.native._C",
            sources=sorted(glob("sglang_hyperaccel/device/csrc/*.cpp")),
            # Kineto's headers (the profiler track, csrc/kineto.cpp) include each other by bare name.
            include_dirs=[os.path.join(path, "kineto") for path in include_paths()
                          if path.endswith("include")],
            extra_compile_args=["-O3", "-DUSE_KINETO"],
        )
    ],
    cmdclass={"build_ext": BuildExtension},
)

"""xstilts: intermediate-task training for zero-shot cross-lingual transfer, at cluster scale."""
from setuptools import find_packages, setup

setup(
    name="xstilts",
    version="0.1.0",
    description="Distributed intermediate-task training and zero-shot XTREME evaluation",
    python_requires=">=3.10",
    packages=find_packages(include=["trainer", "trainer.*", "eval", "eval.*"]),
    package_data={"trainer": ["recipes/*.toml", "recipes/sweeps/*.toml"], "eval": ["*.toml"]},
    include_package_data=True,
    install_requires=[
        # torch is pinned by the set-up path (README, .ci/run) before this file is read.
        "torch>=2.1",
        "deepspeed>=0.14",
        "transformers>=4.40",
        "datasets>=2.18",
        "mpi4py>=3.1",
        "tensorboard>=2.14",
        "numpy",
        "tqdm",
        "seqeval>=1.2",
        "safetensors>=0.4",
        "tokenizers>=0.15",
        "matplotlib",
    ],
    # accelerate: HF Trainer's DeepSpeed integration (tests and the side-by-side benchmark)
    extras_require={"test": ["pytest>=7", "accelerate>=0.30", "hypothesis>=6", "mutmut>=3.3,<4", "pytest-xdist>=3"], "bench": ["accelerate>=0.30"]},
    entry_points={"console_scripts": ["xstilts=trainer.cli:main"]},
)

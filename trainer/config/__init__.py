"""The run configuration: one typed tree (schema.py), loaded from one recipe file plus CLI
overrides (load.py), checked (validate.py), with the batch arithmetic of each phase (batch.py)
and the runs each phase plans (phases.py).

``from trainer.config import Config, load`` is the public way in; the names below are the API.
"""
from trainer.config.batch import (batch_arithmetic, max_length_for, micro_batch_for, pair_lengths,
                                  phase_global_batch, phase_lr)
from trainer.config.load import (apply_override, build_table, describe, dump, field_docs, from_dict, load,
                                 read_toml, to_dict)
from trainer.config.schema import (AttackConfig, CheckpointConfig, Config, DataConfig, DeepSpeedConfig, EvalConfig,
                                   ModelConfig, OptimConfig, PerturbConfig, PhaseConfig, RunConfig,
                                   SamplerConfig, SlurmConfig, TrackingConfig)
from trainer.config.validate import POSITION_OFFSET, check_attack, check_perturb, check_slurm, given_hub, time_seconds, validate
from trainer.errors import ConfigError

__all__ = ["AttackConfig", "CheckpointConfig", "Config", "ConfigError", "DataConfig", "DeepSpeedConfig", "EvalConfig",
           "ModelConfig", "OptimConfig", "POSITION_OFFSET", "PerturbConfig", "PhaseConfig", "RunConfig",
           "SamplerConfig", "SlurmConfig", "TrackingConfig", "apply_override", "batch_arithmetic", "build_table",
           "check_attack", "check_perturb", "check_slurm", "describe", "dump", "field_docs", "from_dict", "given_hub", "load",
           "max_length_for", "micro_batch_for", "pair_lengths", "phase_global_batch", "phase_lr", "read_toml", "time_seconds",
           "to_dict", "validate"]

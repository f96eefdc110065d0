"""`xstilts allocation [--hostfile PATH]`: inside a Slurm job, print the rendezvous host and
port of the allocation (the first host of its node list, the port derived from the job id) and
write its ``host slots=N`` hostfile for ``deepspeed --hostfile`` (the batch scripts' deepspeed
route uses both). Outside an allocation it says so and exits 2."""
from __future__ import annotations

import os

from trainer.runtime import slurm


def run(args, _overrides) -> int:
    hosts = slurm.allocation_hosts()
    addr, port = slurm.master_host(), slurm.job_port()
    if args.hostfile:
        slurm.write_hostfile(hosts, os.path.abspath(args.hostfile))
    print(addr, port)
    return 0

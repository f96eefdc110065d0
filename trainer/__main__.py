"""`python -m trainer ...`: the same command line as `xstilts` and `python -m trainer.cli`."""
import sys

from trainer.cli import main

sys.exit(main())

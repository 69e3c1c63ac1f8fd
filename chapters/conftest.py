"""pytest configuration for the notebooks (nbval).

While nbval re-runs a notebook in strict mode (on the numerics that executed it and recorded the
ledger, see tests/portable.py), every claim it makes is compared with the value the ledger of
claims (``chapters/ledger.json``) records for it at the same seed: ``normres.claims.claim`` does
the comparison when ``NORMRES_LEDGER_CHECK`` names the ledger, and the kernels nbval starts
inherit this process's environment. In portable mode the variable is emptied for that notebook:
its claims must hold, but their digits are this machine's. Set ``NORMRES_LEDGER_CHECK=`` (empty)
to skip the comparison everywhere.
"""

import os
import pathlib

os.environ.setdefault("NORMRES_LEDGER_CHECK", str(pathlib.Path(__file__).resolve().parent / "ledger.json"))

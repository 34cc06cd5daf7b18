"""The method contract (tests/method_contract.py, see there for the rules) for every method
registered in ``coursekit.models.METHODS``; what only one method has stays in its own file
(tests/test_pix2pix.py, tests/test_cyclegan.py, tests/test_cut.py)."""
import sys

import pytest

# pytest's assert messages in the imported contract too (unless pytest already collected it
# itself, as with `pytest tests/method_contract.py`).
if "method_contract" not in sys.modules:
    pytest.register_assert_rewrite("method_contract")

from method_contract import *  # noqa: E402, F403  (the contract's tests; see there)

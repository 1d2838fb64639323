"""Plain ``assert`` in the shared protocol cases reports values, as in any test module."""

import pytest

pytest.register_assert_rewrite("protocol_cases")

import os

from tasks.env import telemetry_off

# Telemetry off for everything the tests start.
telemetry_off()
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny networks on a shared 2-core CPU: several intra-op threads only fight each other."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data():
    """The tests' easy set (support.data.easy_set: 200 rows, 20 planted outliers); a test module
    with data of its own defines its own ``data``."""
    from support.data import easy_set

    return easy_set()

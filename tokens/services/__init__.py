"""Token use cases: bundles (``bundles``) and the balance ledger (``ledger``).

Callers use ``tokens.services.<name>``; both modules' public names are re-exported here.
"""

from tokens.services.bundles import *  # noqa: F403
from tokens.services.bundles import purchase_counters  # noqa: F401
from tokens.services.ledger import *  # noqa: F403

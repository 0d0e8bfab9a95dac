"""Token use cases: bundles (``bundles``), the balance ledger (``ledger``) and bundle purchases
(``purchases``).

Callers use ``tokens.services.<name>``; the modules' public names are re-exported here.
"""

from tokens.services.bundles import *  # noqa: F403
from tokens.services.ledger import *  # noqa: F403
from tokens.services.purchases import *  # noqa: F403

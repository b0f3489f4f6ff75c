"""The connection type our SQL helpers take: a bare connection or one borrowed from a pool."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

if TYPE_CHECKING:
    # The stubs make both generic; the runtime classes are not subscriptable.
    Connection: TypeAlias = asyncpg.Connection[Any] | PoolConnectionProxy[Any]
else:
    Connection = asyncpg.Connection | PoolConnectionProxy

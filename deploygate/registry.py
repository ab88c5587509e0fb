"""A registry filled on first use from the modules that declare its entries.

Rules and formats are declared beside the code that emits or reads them; the registry only
names the declaring modules. Collecting lazily lets a declaring module import the registry's
own types without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

T = TypeVar("T")


class Registry(Mapping[str, T]):
    """A read-only mapping built by ``collect`` the first time it is read."""

    def __init__(self, collect: Callable[[], dict[str, T]]) -> None:
        self._collect = collect
        self._items: dict[str, T] | None = None

    def _all(self) -> dict[str, T]:
        if self._items is None:
            self._items = self._collect()
        return self._items

    def reset(self) -> None:
        """Collect again on next use (after the list of declaring modules changed)."""
        self._items = None

    def __getitem__(self, key: str) -> T:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

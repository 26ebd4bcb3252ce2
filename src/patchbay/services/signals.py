"""Notifications between services that must not hold each other: subscriptions tell intake
and the dispatcher what changed, intake tells the dispatcher events are waiting, workflows
tell the runs their definitions changed.

The platform creates one :class:`Signals` before any service, hands it to the senders'
constructors and connects the receivers once they exist, so no service has an attribute
set on it after it was built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, ParamSpec

if TYPE_CHECKING:
    from ..storage.models import Subscription

P = ParamSpec("P")


class Signal(Generic[P]):
    """One notification: calling it calls every connected receiver in the order they were
    connected (none connected: nothing happens). A receiver's exception reaches the sender."""

    __slots__ = ("_receivers",)

    def __init__(self) -> None:
        self._receivers: tuple[Callable[P, object], ...] = ()

    def connect(self, receiver: Callable[P, object]) -> None:
        self._receivers = (*self._receivers, receiver)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        for receiver in self._receivers:
            receiver(*args, **kwargs)


@dataclass(frozen=True, slots=True)
class Signals:
    """The platform's notifications, created first and shared by the services."""

    # A subscription's events, state or intake URL changed (intake forgets its cached one).
    subscription_changed: Signal[[Subscription]] = field(default_factory=Signal)
    # Events may be due (of this subscription, or of any when None): the dispatcher looks.
    events_waiting: Signal[[str | None]] = field(default_factory=Signal)
    # A workflow was saved, enabled, disabled or deleted (the runs forget cached hooks).
    workflows_changed: Signal[[]] = field(default_factory=Signal)

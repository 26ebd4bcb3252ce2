"""``patchbay demo``: the seed documents' three scenarios running against loopback fakes of
TMU, Slack, SMTP, Pendo and a product's deletion endpoint (see :mod:`.scenarios` for the
workflows and :mod:`.runner` for the set-up)."""

from .runner import Demo, DemoError

__all__ = ["Demo", "DemoError"]

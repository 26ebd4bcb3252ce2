"""The audit log: every change made by a member or a token (who, what, which resource,
when, from where, how it ended), recorded by the API's ``AuditTrail`` middleware.

- ``log``: the recorder (buffered, written in batches after the answers) and the listing;
- ``retention``: pruning events older than ``PATCHBAY_AUDIT_RETENTION_DAYS``;
- ``context``: the workspace a request's change touched, noted by ``Principal.check``.

Nothing is imported here: ``identity.principal`` imports ``context``, and ``log`` imports
``identity.principal``.
"""

"""An operation: data (name, schemas, scopes) plus one small async handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from .schema import SchemaValidator, input_schema, output_schema

if TYPE_CHECKING:
    from .context import Context

Handler = Callable[["Context", Any], Awaitable[Any]]
DynamicOutput = Callable[["Context", Any, Any], Awaitable[dict] | dict]

DEFAULT_TIMEOUT = 45.0


@dataclass
class Operation:
    name: str
    title: str
    description: str
    handler: Handler
    input_model: type[BaseModel] | None
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    auth_scopes: list[str] = field(default_factory=list)
    dynamic_output: DynamicOutput | None = None
    timeout: float = DEFAULT_TIMEOUT
    # Whether the handler takes stored payload references (patchbay.payload_refs) in its input
    # as they are, to stream them through ctx.payloads; otherwise it receives their values.
    payloads: bool = False
    _validator: SchemaValidator | None = field(default=None, repr=False)

    @property
    def has_dynamic_output(self) -> bool:
        return self.dynamic_output is not None

    @property
    def validator(self) -> SchemaValidator:
        if self._validator is None:
            self._validator = SchemaValidator(self.input_schema)
        return self._validator

    def parse_input(self, data: dict[str, Any]) -> Any:
        """Turn already schema-validated input into what the handler receives."""
        if self.input_model is None:
            return data
        return self.input_model.model_validate(data)


def operation(
    name: str | None = None,
    *,
    title: str,
    description: str = "",
    input: type[BaseModel] | dict[str, Any] | None = None,
    output: type[BaseModel] | dict[str, Any] | None = None,
    auth_scopes: list[str] | tuple[str, ...] = (),
    dynamic_output: DynamicOutput | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    payloads: bool = False,
) -> Callable[[Handler], Operation]:
    """Declare an operation from its handler.

    ``input`` is a pydantic model (the handler receives an instance) or a raw JSON Schema
    dict (the handler receives the dict). ``output`` likewise describes the output.
    ``payloads=True``: in a workflow, the handler receives stored payload references
    (``patchbay.payload_refs``) as they are and reads them through ``ctx.payloads`` (streaming),
    instead of their values.
    """

    def wrap(handler: Handler) -> Operation:
        model = input if isinstance(input, type) and issubclass(input, BaseModel) else None
        return Operation(
            name=name or handler.__name__,
            title=title,
            description=description or (handler.__doc__ or "").strip(),
            handler=handler,
            input_model=model,
            input_schema=input_schema(input),
            output_schema=output_schema(output),
            auth_scopes=list(auth_scopes),
            dynamic_output=dynamic_output,
            timeout=timeout,
            payloads=payloads,
        )

    return wrap

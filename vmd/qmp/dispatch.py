"""From one parsed request to one reply: envelope checks, lookup, argument validation, the call.

This is the only place where exceptions become QMP errors.  Checks happen in
QEMU's order, because clients see only the first failure: the envelope, then
the command lookup (against the negotiation table until `qmp_capabilities`),
then OOB permission, then the arguments.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any

from vmd.errors import CommandNotFound, GenericError, QmpError
from vmd.handlers.context import CommandContext
from vmd.handlers.registry import Handler
from vmd.qapi.registry import CommandSpec, Schema
from vmd.qapi.runtime import wire_value
from vmd.qapi.visitor import visit_no_arguments, visit_struct

log = logging.getLogger(__name__)

Reply = dict[str, Any]
_MISSING = object()


@dataclass(frozen=True, slots=True)
class BoundCommand:
    spec: CommandSpec
    handler: Handler
    is_async: bool


@dataclass(frozen=True, slots=True)
class Request:
    """A request that passed the envelope checks."""

    command: BoundCommand
    arguments: dict[str, Any]
    id: Any  # _MISSING when the request had no id
    oob: bool

    @property
    def has_id(self) -> bool:
        return self.id is not _MISSING


class EnvelopeError(Exception):
    """A request rejected before its command ran; carries the reply to send."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply)
        self.reply = reply


def error_reply(error: QmpError, request_id: Any = _MISSING) -> Reply:
    body = {"class": error.error_class, "desc": error.desc}
    # QEMU happens to put "id" first in error replies and last in successful ones.
    return {"error": body} if request_id is _MISSING else {"id": request_id, "error": body}


def return_reply(value: Any, request_id: Any = _MISSING) -> Reply:
    return {"return": value} if request_id is _MISSING else {"return": value, "id": request_id}


def to_wire(value: Any) -> Any:
    """A handler's return value in wire form (`None` is QEMU's `{}`)."""
    return {} if value is None else wire_value(value)


class Dispatcher:
    def __init__(self, schema: Schema, handlers: Mapping[str, Handler]) -> None:
        missing = set(schema.commands) - set(handlers)
        extra = set(handlers) - set(schema.commands)
        if missing or extra:
            raise ValueError(f"schema and handlers disagree: unimplemented {missing}, undeclared {extra}")
        self.commands = {
            name: BoundCommand(spec, handlers[name], inspect.iscoroutinefunction(handlers[name]))
            for name, spec in schema.commands.items()
        }
        self.negotiation_commands = {name: cmd for name, cmd in self.commands.items() if cmd.spec.negotiation}

    def parse(self, message: Any, *, negotiating: bool, oob_enabled: bool) -> Request:
        """Check the envelope and find the command; raises EnvelopeError with the reply to send."""
        if not isinstance(message, dict):
            raise EnvelopeError(error_reply(GenericError("QMP input must be a JSON object")))
        request_id = message.get("id", _MISSING)

        def fail(error: QmpError) -> EnvelopeError:
            return EnvelopeError(error_reply(error, request_id))

        for key, value in message.items():
            if key == "execute" or (key == "exec-oob" and oob_enabled):
                if not isinstance(value, str):
                    raise fail(GenericError(f"QMP input member '{key}' must be a string"))
            elif key == "arguments":
                if not isinstance(value, dict):
                    raise fail(GenericError("QMP input member 'arguments' must be an object"))
            elif key != "id":
                raise fail(GenericError(f"QMP input member '{key}' is unexpected"))
        oob = "exec-oob" in message
        if oob and "execute" in message:
            raise fail(GenericError("QMP input member 'execute' clashes with 'exec-oob'"))
        name = message.get("exec-oob") if oob else message.get("execute")
        if name is None:
            raise fail(GenericError("QMP input lacks member 'execute'"))

        table = self.negotiation_commands if negotiating else self.commands
        command = table.get(name)
        if command is None:
            if negotiating:
                raise fail(CommandNotFound("Expecting capabilities negotiation with 'qmp_capabilities'"))
            raise fail(CommandNotFound(f"The command {name} has not been found"))
        if oob and not command.spec.allow_oob:
            raise fail(GenericError(f"The command {name} does not support OOB"))
        return Request(command, message.get("arguments", {}), request_id, oob)

    def call(self, request: Request, ctx: CommandContext) -> Reply | Awaitable[Reply]:
        """Validate the arguments and run the handler; a coroutine handler gives an awaitable reply."""
        spec = request.command.spec
        try:
            if spec.raw_args:
                args: Any = request.arguments
            elif spec.args is None:
                visit_no_arguments(request.arguments)
                args = None
            else:
                args = visit_struct(spec.args, request.arguments)
            if request.command.is_async:
                return self._finish(request, request.command.handler(ctx, args))
            return return_reply(to_wire(request.command.handler(ctx, args)), request.id)
        except QmpError as error:
            return error_reply(error, request.id)
        except Exception as error:  # a bug: report it to this one client, keep serving
            return self._internal_error(request, error)

    async def _finish(self, request: Request, pending: Any) -> Reply:
        try:
            return return_reply(to_wire(await pending), request.id)
        except QmpError as error:
            return error_reply(error, request.id)
        except Exception as error:
            return self._internal_error(request, error)

    @staticmethod
    def _internal_error(request: Request, error: Exception) -> Reply:
        log.exception("command %s failed", request.command.spec.name)
        desc = f"internal error in {request.command.spec.name}: {type(error).__name__}: {error}"
        return error_reply(GenericError(desc), request.id)

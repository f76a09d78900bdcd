"""From one parsed request to one reply: envelope checks, lookup, argument validation, the call.

This is the only place where exceptions become QMP errors.  Checks happen in
QEMU's order, because clients see only the first failure: the envelope, then
the command lookup (against the negotiation table until `qmp_capabilities`),
then OOB permission, then the arguments.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from vmd.errors import CommandNotFound, GenericError, QmpError
from vmd.qapi.registry import CommandSpec, Schema
from vmd.qapi.runtime import wire_value
from vmd.qapi.visitor import visit_no_arguments, visit_struct
from vmd.records import dataclass

log = logging.getLogger(__name__)

Reply = dict[str, Any]
# A command's implementation: (context, arguments) -> result, or an awaitable of it.  The context
# is whatever the server passes for the session (the transport never looks inside).
Handler = Callable[[Any, Any], Any]
_MISSING = object()
_NO_ARGUMENTS: dict[str, Any] = {}
# Members a request may have without `exec-oob`; requests with no others take the short way.
_PLAIN_ENVELOPE = frozenset(("execute", "arguments", "id"))


@dataclass(frozen=True, slots=True)
class BoundCommand:
    spec: CommandSpec
    handler: Handler
    is_async: bool


# Not frozen: a frozen dataclass pays a setattr call per field, and one Request is built per
# command.  Nothing changes a Request after parse() made it.
@dataclass(slots=True)
class Request:
    """A request that passed the envelope checks."""

    command: BoundCommand
    arguments: dict[str, Any]
    id: Any  # _MISSING when the request had no id
    oob: bool


class NoReply(dict[str, Any]):
    """What a command with 'success-response': false gives when it succeeds: nothing is sent."""


NO_REPLY: Reply = NoReply()


class EnvelopeError(Exception):
    """A request rejected before its command ran; carries the reply to send."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply)
        self.reply = reply


def error_reply(error: QmpError, request_id: Any = _MISSING) -> Reply:
    body = {"class": error.error_class, "desc": error.desc}
    # QEMU happens to put "id" first in error replies and last in successful ones.
    return {"error": body} if request_id is _MISSING else {"id": request_id, "error": body}


def _envelope_error(error: QmpError, request_id: Any) -> EnvelopeError:
    return EnvelopeError(error_reply(error, request_id))


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
        # The usual request passes every envelope check at a glance; anything else is walked
        # member by member, because a bad envelope is reported by its first bad member.
        name = message.get("execute")
        arguments = message.get("arguments", _NO_ARGUMENTS)
        if not (type(name) is str and type(arguments) is dict and message.keys() <= _PLAIN_ENVELOPE):
            return self._parse_unusual(message, request_id, negotiating, oob_enabled)
        return Request(self._lookup(name, request_id, negotiating), arguments, request_id, False)

    def _parse_unusual(
        self, message: dict[str, Any], request_id: Any, negotiating: bool, oob_enabled: bool
    ) -> Request:
        for key, value in message.items():
            if key == "execute" or (key == "exec-oob" and oob_enabled):
                if not isinstance(value, str):
                    raise _envelope_error(
                        GenericError(f"QMP input member '{key}' must be a string"), request_id
                    )
            elif key == "arguments":
                if not isinstance(value, dict):
                    raise _envelope_error(
                        GenericError("QMP input member 'arguments' must be an object"), request_id
                    )
            elif key != "id":
                raise _envelope_error(GenericError(f"QMP input member '{key}' is unexpected"), request_id)
        oob = "exec-oob" in message
        if oob and "execute" in message:
            raise _envelope_error(
                GenericError("QMP input member 'execute' clashes with 'exec-oob'"), request_id
            )
        name = message.get("exec-oob") if oob else message.get("execute")
        if name is None:
            raise _envelope_error(GenericError("QMP input lacks member 'execute'"), request_id)
        command = self._lookup(name, request_id, negotiating)
        if oob and not command.spec.allow_oob:
            raise _envelope_error(GenericError(f"The command {name} does not support OOB"), request_id)
        return Request(command, message.get("arguments", _NO_ARGUMENTS), request_id, oob)

    def _lookup(self, name: str, request_id: Any, negotiating: bool) -> BoundCommand:
        command = (self.negotiation_commands if negotiating else self.commands).get(name)
        if command is None:
            if negotiating:
                raise _envelope_error(
                    CommandNotFound("Expecting capabilities negotiation with 'qmp_capabilities'"), request_id
                )
            raise _envelope_error(CommandNotFound(f"The command {name} has not been found"), request_id)
        return command

    def call(self, request: Request, ctx: Any) -> Reply | Awaitable[Reply]:
        """Validate the arguments and run the handler; a coroutine handler gives an awaitable reply."""
        command = request.command
        spec = command.spec
        try:
            if spec.raw_args:  # the handler owns the object: never hand out the shared empty one
                args: Any = request.arguments if request.arguments is not _NO_ARGUMENTS else {}
            elif spec.args is None:
                if request.arguments:
                    visit_no_arguments(request.arguments)
                args = None
            else:
                args = visit_struct(spec.args, request.arguments)
            if command.is_async:
                return self._finish(request, command.handler(ctx, args))
            value = command.handler(ctx, args)
            if not spec.success_response:
                return NO_REPLY
            wire = {} if value is None else wire_value(value)
            return {"return": wire} if request.id is _MISSING else {"return": wire, "id": request.id}
        except QmpError as error:
            return error_reply(error, request.id)
        except Exception as error:  # a bug: report it to this one client, keep serving
            return self._internal_error(request, error)

    async def _finish(self, request: Request, pending: Any) -> Reply:
        try:
            value = await pending
            if not request.command.spec.success_response:
                return NO_REPLY
            return return_reply(to_wire(value), request.id)
        except QmpError as error:
            return error_reply(error, request.id)
        except Exception as error:
            return self._internal_error(request, error)

    @staticmethod
    def _internal_error(request: Request, error: Exception) -> Reply:
        log.exception("command %s failed", request.command.spec.name)
        desc = f"internal error in {request.command.spec.name}: {type(error).__name__}: {error}"
        return error_reply(GenericError(desc), request.id)

"""A layer's errors name the layer the user called (issue 9).

`Conv2d(1, 1, 3)(x)` runs `conv2d`, `im2col` and a matmul; `Linear(n, m)`
allocates with `randn`; each op's error starts with the op's own name. The
student called `Conv2d` or `Linear`, so that is the name the message must start
with (tests/core/test_error_message_style.py has the rule; the fuzz tests in
tests/regression/test_fuzz_layers.py check it for every layer). `names_the_layer`
wraps a layer method: a ValueError, TypeError, IndexError or RuntimeError
escaping it is re-raised, same type and traceback, with the message prefixed by
the layer's class name. The op's prefix is dropped when it is the same name
spelled as a function (`conv2d:` under `Conv2d`, `cross_entropy:` under
`CrossEntropyLoss`) and kept otherwise (`Linear: randn: shape ... has too many
elements`), because then it says where the problem was found. `names_the_function`
does the same for a public function built from other calls
(`scaled_dot_product_attention` converting its mask).
"""
import functools
import re

CLEAN_ERRORS = (ValueError, TypeError, IndexError, RuntimeError)
_PREFIX = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*): ")


def _squashed(name):
    return "".join(c for c in name.lower() if c.isalnum())


def renamed(err, name):
    """err itself when its message already starts with `name`, else a copy of it whose message does."""
    message = str(err)
    if message.startswith(name + ":") or message.startswith(name + " "):
        return err
    op = _PREFIX.match(message)
    if op and _squashed(name).startswith(_squashed(op.group(1))):
        message = message[op.end():]
    try:
        return type(err)(f"{name}: {message}")
    except Exception:  # an exception class whose constructor wants other arguments: leave it as it is
        return err


def names_the_function(name):
    """Decorator for a public function composed of other calls (the same rule, with a fixed name)."""
    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except CLEAN_ERRORS as err:
                new = renamed(err, name)
                if new is err:
                    raise
                raise new.with_traceback(err.__traceback__) from None
        return wrapper
    return decorate


def names_the_layer(method):
    """Decorator for a layer's __init__/forward: escaping errors start with the layer's class name."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except CLEAN_ERRORS as err:
            new = renamed(err, type(self).__name__)
            if new is err:
                raise
            raise new.with_traceback(err.__traceback__) from None
    return wrapper

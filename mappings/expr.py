"""A small, safe expression language for source expressions, conditions and rule values.

Own tokenizer and recursive-descent parser; the tree is compiled into plain closures once. No eval, no
attribute access: the only things an expression can reach are paths into the source record and the
functions listed in FUNCTIONS. Size is bounded (length, nodes, nesting) and nothing loops except over
the record's own lists, so a run is bounded by the record's size.

    customer.email                       a path into the record
    extra.gift_note   extra["my-key"]    custom fields, keys with odd characters
    lines[0].sku   lines[].sku           one element / every element (inside a per-line mapping: the current one)
    total.amount > 100 and shipping_address.country in ['DE', 'AT']
    concat(customer.first_name, ' ', customer.last_name)
    if(discount.amount > 0, 'PROMO', null)

Numbers are decimals; numeric strings ("12.50") take part in arithmetic and comparisons as numbers.
"""

import decimal
import re
from decimal import Decimal

MAX_LENGTH = 2000
MAX_NODES = 200
MAX_DEPTH = 30
MAX_STRING = 100_000
MAX_NUMBER_LITERAL = 40
MAX_EXPONENT = 1000  # numbers from data beyond 10**1000 are not amounts but attacks or garbage

# Bounded exponents: a run cannot build astronomically large numbers.
DECIMAL_CONTEXT = decimal.Context(prec=34, Emax=999_999, Emin=-999_999, traps=[
    decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow,
])


class ExprError(Exception):
    """A problem with an expression: a syntax error when parsed, a data problem when run."""


class ExprSyntaxError(ExprError):
    pass


TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|<|>|\+|-|\*|/|\(|\)|\[|\]|,|\.)
""", re.VERBOSE)

KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}


def tokenize(text):
    if not isinstance(text, str):
        raise ExprSyntaxError("an expression must be text")
    if len(text) > MAX_LENGTH:
        raise ExprSyntaxError(f"expression longer than {MAX_LENGTH} characters")
    tokens, position = [], 0
    while position < len(text):
        match = TOKEN_RE.match(text, position)
        if not match:
            raise ExprSyntaxError(f"unexpected character {text[position]!r} at position {position + 1}")
        kind = match.lastgroup
        value = match.group()
        if kind == "number" and len(value) > MAX_NUMBER_LITERAL:
            raise ExprSyntaxError(f"number at position {position + 1} is too long")
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        elif kind == "name" and value in KEYWORDS:
            kind = "keyword"
        if kind != "ws":
            tokens.append((kind, value, position + 1))
        position = match.end()
    tokens.append(("end", "", len(text) + 1))
    return tokens


# Path segments: ("key", name) | ("index", n) | ("each",)
class Parser:
    def __init__(self, text):
        self.tokens = tokenize(text)
        self.index = 0
        self.nodes = 0
        self.depth = 0

    def peek(self, *values):
        kind, value, _ = self.tokens[self.index]
        return kind in ("op", "keyword") and value in values

    def take(self):
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, value):
        kind, got, position = self.take()
        if got != value or kind not in ("op", "keyword"):
            shown = got or "the end"
            raise ExprSyntaxError(f"expected “{value}” at position {position}, found “{shown}”")

    def node(self, *parts):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ExprSyntaxError(f"expression has more than {MAX_NODES} parts")
        return parts

    def parse(self):
        tree = self.expression()
        kind, value, position = self.tokens[self.index]
        if kind != "end":
            raise ExprSyntaxError(f"unexpected “{value}” at position {position}")
        return tree

    def expression(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprSyntaxError(f"expression nested deeper than {MAX_DEPTH} levels")
        tree = self.or_()
        self.depth -= 1
        return tree

    def or_(self):
        tree = self.and_()
        while self.peek("or"):
            self.take()
            tree = self.node("or", tree, self.and_())
        return tree

    def and_(self):
        tree = self.not_()
        while self.peek("and"):
            self.take()
            tree = self.node("and", tree, self.not_())
        return tree

    def not_(self):
        if self.peek("not"):
            self.take()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ExprSyntaxError(f"expression nested deeper than {MAX_DEPTH} levels")
            tree = self.node("not", self.not_())
            self.depth -= 1
            return tree
        return self.comparison()

    def comparison(self):
        tree = self.additive()
        if self.peek("==", "!=", "<", "<=", ">", ">=", "in"):
            operator = self.take()[1]
            tree = self.node("cmp", operator, tree, self.additive())
        elif self.peek("not") and self.tokens[self.index + 1][1] == "in":
            self.take()
            self.take()
            tree = self.node("not", self.node("cmp", "in", tree, self.additive()))
        return tree

    def additive(self):
        tree = self.multiplicative()
        while self.peek("+", "-"):
            operator = self.take()[1]
            tree = self.node("arith", operator, tree, self.multiplicative())
        return tree

    def multiplicative(self):
        tree = self.unary()
        while self.peek("*", "/"):
            operator = self.take()[1]
            tree = self.node("arith", operator, tree, self.unary())
        return tree

    def unary(self):
        if self.peek("-"):
            self.take()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ExprSyntaxError(f"expression nested deeper than {MAX_DEPTH} levels")
            tree = self.node("neg", self.unary())
            self.depth -= 1
            return tree
        return self.primary()

    def primary(self):
        kind, value, position = self.take()
        if kind == "number":
            return self.node("const", Decimal(value))
        if kind == "string":
            return self.node("const", value)
        if kind == "keyword" and value in ("true", "false", "null"):
            return self.node("const", {"true": True, "false": False, "null": None}[value])
        if kind == "op" and value == "(":
            tree = self.expression()
            self.expect(")")
            return tree
        if kind == "op" and value == "[":
            items = []
            if not self.peek("]"):
                items.append(self.expression())
                while self.peek(","):
                    self.take()
                    items.append(self.expression())
            self.expect("]")
            return self.node("list", tuple(items))
        if kind == "name":
            if self.peek("("):
                return self.call(value, position)
            return self.path(value)
        shown = value or "the end"
        raise ExprSyntaxError(f"unexpected “{shown}” at position {position}")

    def call(self, name, position):
        if name not in FUNCTIONS:
            raise ExprSyntaxError(f"unknown function “{name}” at position {position}; "
                                  f"known: {', '.join(sorted(FUNCTIONS))}")
        self.take()
        args = []
        if not self.peek(")"):
            args.append(self.expression())
            while self.peek(","):
                self.take()
                args.append(self.expression())
        self.expect(")")
        low, high, _ = FUNCTIONS[name]
        if not low <= len(args) <= (high if high is not None else len(args)):
            wanted = f"{low}" if low == high else f"{low} to {high}" if high is not None else f"at least {low}"
            raise ExprSyntaxError(f"{name}() takes {wanted} arguments, got {len(args)}")
        return self.node("call", name, tuple(args))

    def path(self, first):
        segments = [("key", first)]
        while self.peek(".", "["):
            if self.take()[1] == ".":
                kind, value, position = self.take()
                if kind not in ("name", "keyword"):
                    raise ExprSyntaxError(f"expected a field name after “.” at position {position}")
                segments.append(("key", value))
            elif self.peek("]"):
                self.take()
                segments.append(("each",))
            else:
                kind, value, position = self.take()
                if kind == "number" and "." not in value:
                    segments.append(("index", int(value)))
                elif kind == "string":
                    segments.append(("key", value))
                else:
                    raise ExprSyntaxError(f"expected a number, a quoted key or ] at position {position}")
                self.expect("]")
        return self.node("path", tuple(segments))


def parse(text):
    """Parse an expression into a tree; raise ExprSyntaxError with a plain-words reason."""
    return Parser(text).parse()


# ---- evaluation -------------------------------------------------------------------------------------------------

class Scope:
    """What an expression sees: the record, and for per-line mappings the current element of each list."""

    __slots__ = ("record", "current")

    def __init__(self, record, current=None):
        self.record = record
        self.current = current or {}  # {("lines",): element}


def to_number(value):
    if isinstance(value, bool):
        raise ExprError(f"{value!r} is not a number")
    if isinstance(value, Decimal):
        if value.is_finite():
            return value
        raise ExprError(f"{value} is not a number")
    if isinstance(value, int) and abs(value) < 10**MAX_EXPONENT:
        return Decimal(value)
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, str):
        text = value.strip()
        if 0 < len(text) <= MAX_NUMBER_LITERAL:
            try:
                number = Decimal(text)
            except decimal.InvalidOperation:
                number = None
            if number is not None and number.is_finite() and abs(number.adjusted()) <= MAX_EXPONENT:
                return number
    raise ExprError(f"{_show(value)} is not a number")


def is_number_like(value):
    try:
        to_number(value)
    except ExprError:
        return False
    return True


def truthy(value):
    if isinstance(value, Decimal):
        return value != 0
    return bool(value)


def _show(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, Decimal, int)):
        return str(value)
    raise ExprError(f"{_show(value)} is not text")


def _checked_text(text):
    if len(text) > MAX_STRING:
        raise ExprError(f"text longer than {MAX_STRING} characters")
    return text


def _equal(left, right):
    if isinstance(left, (Decimal, int)) and not isinstance(left, bool) and is_number_like(right):
        return to_number(left) == to_number(right)
    if isinstance(right, (Decimal, int)) and not isinstance(right, bool) and is_number_like(left):
        return to_number(left) == to_number(right)
    return left == right


def _compare(operator, left, right):
    if operator == "==":
        return _equal(left, right)
    if operator == "!=":
        return not _equal(left, right)
    if operator == "in":
        if isinstance(right, str):
            return isinstance(left, str) and left in right
        if isinstance(right, (list, tuple)):
            return any(_equal(left, item) for item in right)
        if right is None:
            return False
        raise ExprError(f"“in” needs a list or text on the right, not {_show(right)}")
    if left is None or right is None:
        return False  # comparing with a missing value is simply not true
    if isinstance(left, str) and isinstance(right, str) and not (is_number_like(left) and is_number_like(right)):
        pair = (left, right)
    else:
        pair = (to_number(left), to_number(right))
    return {"<": pair[0] < pair[1], "<=": pair[0] <= pair[1], ">": pair[0] > pair[1], ">=": pair[0] >= pair[1]}[
        operator]


def _arith(operator, left, right):
    a, b = to_number(left), to_number(right)
    try:
        if operator == "+":
            return DECIMAL_CONTEXT.add(a, b)
        if operator == "-":
            return DECIMAL_CONTEXT.subtract(a, b)
        if operator == "*":
            return DECIMAL_CONTEXT.multiply(a, b)
        return DECIMAL_CONTEXT.divide(a, b)
    except decimal.DivisionByZero:
        raise ExprError("division by zero") from None
    except (decimal.InvalidOperation, decimal.Overflow):
        raise ExprError("number out of range") from None


def _walk(value, segments, scope, prefix):
    for position, segment in enumerate(segments):
        if value is None:
            return None
        if segment[0] == "key":
            value = value.get(segment[1]) if isinstance(value, dict) else None
            prefix = prefix + (segment[1],)
        elif segment[0] == "index":
            value = value[segment[1]] if isinstance(value, list) and segment[1] < len(value) else None
            prefix = prefix + (segment[1],)
        else:
            if prefix in scope.current:  # inside a per-line mapping: the current element
                value = scope.current[prefix]
                continue
            if not isinstance(value, list):
                return None
            rest = segments[position + 1:]
            results = []
            for item in value:
                found = _walk(item, rest, scope, prefix + ("[]",))
                if isinstance(found, list) and any(s[0] == "each" for s in rest):
                    results.extend(found)
                else:
                    results.append(found)
            return results
    return value


def _fn_text(name):
    def run(value):
        if value is None:
            return None
        text = _text(value)
        return {"lower": text.lower, "upper": text.upper, "trim": text.strip}[name]()
    return run


def _concat(*values):
    return _checked_text("".join(_text(value) for value in values))


def _coalesce(*values):
    for value in values:
        if value not in (None, "", []):
            return value
    return None


def _length(value):
    if value is None:
        return Decimal(0)
    if isinstance(value, (str, list, dict)):
        return Decimal(len(value))
    raise ExprError(f"len() needs text or a list, not {_show(value)}")


def _startswith(value, prefix):
    return isinstance(value, str) and value.startswith(_text(prefix))


def _endswith(value, suffix):
    return isinstance(value, str) and value.endswith(_text(suffix))


def _contains(value, part):
    if isinstance(value, list):
        return any(_equal(item, part) for item in value)
    return isinstance(value, str) and _text(part) in value


def _any_startswith(values, prefix):
    values = values if isinstance(values, list) else [values]
    return any(_startswith(value, prefix) for value in values)


def _decimal(value):
    return None if value in (None, "") else to_number(value)


def _round(value, digits=Decimal(0)):
    if value in (None, ""):
        return None
    places = small_int(digits, 0, 12, "round() digits")
    try:
        return to_number(value).quantize(Decimal(1).scaleb(-places), rounding=decimal.ROUND_HALF_UP,
                                         context=DECIMAL_CONTEXT)
    except decimal.InvalidOperation:
        raise ExprError("number out of range") from None


def _numbers(values):
    values = values if isinstance(values, list) else [values]
    return [to_number(value) for value in values if value not in (None, "")]


def _sum(values):
    total = Decimal(0)
    for number in _numbers(values):
        total = _arith("+", total, number)
    return total


def _min(*values):
    numbers = _numbers(list(values[0]) if len(values) == 1 and isinstance(values[0], list) else list(values))
    return min(numbers) if numbers else None


def _max(*values):
    numbers = _numbers(list(values[0]) if len(values) == 1 and isinstance(values[0], list) else list(values))
    return max(numbers) if numbers else None


def _abs(value):
    return None if value in (None, "") else abs(to_number(value))


def _count(values):
    return Decimal(len(values)) if isinstance(values, list) else Decimal(0 if values is None else 1)


def _join(values, separator=" "):
    values = values if isinstance(values, list) else [values]
    return _checked_text(_text(separator).join(_text(value) for value in values if value not in (None, "")))


def small_int(value, low, high, what):
    number = to_number(value)
    if not low <= number <= high or number != number.to_integral_value():
        raise ExprError(f"{what} must be a whole number from {low} to {high}")
    return int(number)


def _substring(value, start, length=None):
    if value is None:
        return None
    text = _text(value)
    begin = small_int(start, 0, MAX_STRING, "substring start")
    if length is None:
        return text[begin:]
    return text[begin:begin + small_int(length, 0, MAX_STRING, "substring length")]


# name -> (least args, most args or None, function); `if` is handled lazily in the compiler.
FUNCTIONS = {
    "lower": (1, 1, _fn_text("lower")),
    "upper": (1, 1, _fn_text("upper")),
    "trim": (1, 1, _fn_text("trim")),
    "concat": (1, 20, _concat),
    "coalesce": (1, 20, _coalesce),
    "len": (1, 1, _length),
    "startswith": (2, 2, _startswith),
    "endswith": (2, 2, _endswith),
    "contains": (2, 2, _contains),
    "any_startswith": (2, 2, _any_startswith),
    "decimal": (1, 1, _decimal),
    "round": (1, 2, _round),
    "sum": (1, 1, _sum),
    "min": (1, 20, _min),
    "max": (1, 20, _max),
    "abs": (1, 1, _abs),
    "count": (1, 1, _count),
    "join": (1, 2, _join),
    "substring": (2, 3, _substring),
    "if": (3, 3, None),
}


def _follow(value, keys):
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _compile_path(segments):
    """Paths are the hot spot of mapping many records: plain key paths and per-line paths get direct closures."""
    kinds = [segment[0] for segment in segments]
    if all(kind == "key" for kind in kinds):
        keys = tuple(segment[1] for segment in segments)
        return lambda scope: _follow(scope.record, keys)
    if kinds.count("each") == 1 and "index" not in kinds:
        split = kinds.index("each")
        prefix = tuple(segment[1] for segment in segments[:split])
        rest = tuple(segment[1] for segment in segments[split + 1:])

        def per_line(scope):
            if prefix in scope.current:
                return _follow(scope.current[prefix], rest)
            return _walk(scope.record, segments, scope, ())
        return per_line
    return lambda scope: _walk(scope.record, segments, scope, ())


def _compile(tree):
    kind = tree[0]
    if kind == "const":
        constant = tree[1]
        return lambda scope: constant
    if kind == "path":
        return _compile_path(tree[1])
    if kind == "list":
        items = [_compile(item) for item in tree[1]]
        return lambda scope: [item(scope) for item in items]
    if kind == "not":
        inner = _compile(tree[1])
        return lambda scope: not truthy(inner(scope))
    if kind == "and":
        left, right = _compile(tree[1]), _compile(tree[2])
        return lambda scope: truthy(left(scope)) and truthy(right(scope))
    if kind == "or":
        left, right = _compile(tree[1]), _compile(tree[2])
        return lambda scope: (lambda value: value if truthy(value) else right(scope))(left(scope))
    if kind == "neg":
        inner = _compile(tree[1])
        return lambda scope: -to_number(inner(scope))
    if kind == "cmp":
        operator, left, right = tree[1], _compile(tree[2]), _compile(tree[3])
        return lambda scope: _compare(operator, left(scope), right(scope))
    if kind == "arith":
        operator, left, right = tree[1], _compile(tree[2]), _compile(tree[3])
        return lambda scope: _arith(operator, left(scope), right(scope))
    if kind == "call":
        name, args = tree[1], [_compile(arg) for arg in tree[2]]
        if name == "if":
            condition, then, otherwise = args
            return lambda scope: then(scope) if truthy(condition(scope)) else otherwise(scope)
        function = FUNCTIONS[name][2]
        return lambda scope: function(*[arg(scope) for arg in args])
    raise ExprSyntaxError(f"unknown node {kind}")  # pragma: no cover - the parser makes only known nodes


class Expression:
    """A parsed and compiled expression; call .evaluate(record) or .run(scope)."""

    def __init__(self, text):
        self.text = text
        self.tree = parse(text)
        self._run = _compile(self.tree)

    def run(self, scope):
        try:
            return self._run(scope)
        except ExprError:
            raise
        except (TypeError, ValueError, ArithmeticError, RecursionError) as error:
            # Data of an unexpected shape is a data problem, never a crash of the caller.
            raise ExprError(f"cannot evaluate: {error}") from None

    def evaluate(self, record, current=None):
        return self.run(Scope(record, current))

    def list_paths(self):
        """Source list prefixes iterated with [] (e.g. [('lines',)]), used to pair per-line targets with sources."""
        found = []
        _collect_list_paths(self.tree, found)
        return found


def _collect_list_paths(tree, found):
    if tree[0] == "path":
        prefix = ()
        for segment in tree[1]:
            if segment[0] == "each":
                if prefix not in found:
                    found.append(prefix)
                prefix = prefix + ("[]",)
            else:
                prefix = prefix + (segment[1],)
        return
    for part in tree[1:]:
        if isinstance(part, tuple) and part and isinstance(part[0], str) and part[0] in NODE_KINDS:
            _collect_list_paths(part, found)
        elif isinstance(part, tuple):
            for item in part:
                if isinstance(item, tuple) and item and item[0] in NODE_KINDS:
                    _collect_list_paths(item, found)


NODE_KINDS = {"const", "path", "list", "not", "and", "or", "neg", "cmp", "arith", "call"}


def check(text):
    """None if the expression is valid, else the reason (for form validation)."""
    try:
        Expression(text)
    except ExprError as error:
        return str(error)
    return None

"""The OData v4 query subset ChannelAdvisor's v1 API speaks: $filter parsed into a small AST and turned into Django
Q objects, $orderby, $select, $expand, $top/$skip. Every malformed input raises ODataError (a 400), never anything
else, so the views never answer 500 for a bad query."""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.db.models import Q

MAX_QUERY_LENGTH = 4000
MAX_DEPTH = 40
MAX_INT = 2**63 - 1
MAX_DECIMAL = Decimal("1e12")


class ODataError(Exception):
    """A query the client must fix: answered 400 in the OData error envelope."""


@dataclass(frozen=True)
class Field:
    """A filterable/sortable property: its Django lookup path, its type, and for enums the allowed names."""

    column: str
    kind: str  # int | str | decimal | datetime | enum | bool
    choices: tuple = ()
    # For properties of a child collection (Items/Sku): (related model, FK name) filtered by an id subquery.
    collection: tuple | None = None


@dataclass
class Resource:
    """What a query may name on one entity set."""

    type_name: str
    fields: dict  # OData name -> Field
    properties: tuple  # every property $select may name
    expandable: tuple = ()
    page_size: int = 20
    # Child collections a lambda may range over: name -> (Resource, model, column naming the parent id).
    collections: dict = field(default_factory=dict)
    _lookup: dict = field(default_factory=dict, repr=False)

    def field(self, name):
        found = self.fields.get(name) or self.fields.get(self._lowercase().get(name.lower(), ""))
        if found is None:
            raise ODataError(f"Could not find a property named '{name}' on type '{self.type_name}'.")
        return found

    def _lowercase(self):
        if not self._lookup:
            self._lookup.update({key.lower(): key for key in self.fields})
        return self._lookup


# --- $filter: tokens ---

TOKEN_PATTERN = re.compile(r"""
    (?P<space>\s+)
  | (?P<punct>[(),:])
  | (?P<string>'(?:[^']|'')*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|[+-]\d{2}:\d{2})?)?)
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[mMdDfFlL]?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)
""", re.VERBOSE)

COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
LOOKUPS = {"eq": "exact", "gt": "gt", "ge": "gte", "lt": "lt", "le": "lte"}
DATE_PART_RANGES = {"year": (1, 9999), "month": (1, 12), "day": (1, 31), "hour": (0, 23), "minute": (0, 59),
                    "second": (0, 59)}
DATE_PARTS = set(DATE_PART_RANGES)
STRING_TESTS = {"contains": "contains", "startswith": "startswith", "endswith": "endswith"}


@dataclass(frozen=True)
class Token:
    kind: str  # punct | string | datetime | number | name
    text: str
    position: int


def tokenize(text):
    if len(text) > MAX_QUERY_LENGTH:
        raise ODataError("The $filter is too long.")
    tokens, position = [], 0
    while position < len(text):
        match = TOKEN_PATTERN.match(text, position)
        if match is None:
            raise ODataError(f"Syntax error at position {position} in '{text}'.")
        kind = match.lastgroup
        if kind != "space":
            tokens.append(Token(kind, match.group(), position))
        position = match.end()
    return tokens


# --- $filter: AST ---

@dataclass(frozen=True)
class Literal:
    kind: str  # string | datetime | number | bool | null
    value: object


@dataclass(frozen=True)
class Property:
    name: str
    function: str = ""  # year(), month()... applied to a datetime property


@dataclass(frozen=True)
class Compare:
    prop: Property
    op: str
    literal: Literal


@dataclass(frozen=True)
class StringTest:
    function: str  # contains | startswith | endswith
    prop: Property
    literal: Literal


@dataclass(frozen=True)
class BoolOp:
    op: str  # and | or
    left: object
    right: object


@dataclass(frozen=True)
class Not:
    operand: object


@dataclass(frozen=True)
class Lambda:
    """Items/any(i: i/Sku eq 'A') — `body` is about one child row."""

    collection: str
    quantifier: str  # any | all
    body: object


class Parser:
    """Recursive descent: or_expr := and_expr ('or' and_expr)*; and_expr := unary ('and' unary)*;
    unary := 'not' unary | '(' or_expr ')' | comparison | string test."""

    def __init__(self, text):
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0
        self.variable = None  # the lambda variable while parsing the body of any()/all()

    def parse(self):
        if not self.tokens:
            raise ODataError("The $filter is empty.")
        node = self.or_expr()
        if self.index != len(self.tokens):
            token = self.tokens[self.index]
            raise ODataError(f"Syntax error: unexpected '{token.text}' at position {token.position}.")
        return node

    def peek(self):
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self):
        token = self.peek()
        if token is None:
            raise ODataError("Syntax error: the $filter ends too early.")
        self.index += 1
        return token

    def expect(self, text):
        token = self.take()
        if token.text != text:
            raise ODataError(f"Syntax error: expected '{text}' at position {token.position}, found '{token.text}'.")

    def is_word(self, word):
        token = self.peek()
        return token is not None and token.kind == "name" and token.text == word

    def or_expr(self):
        node = self.and_expr()
        while self.is_word("or"):
            self.take()
            node = BoolOp("or", node, self.and_expr())
        return node

    def and_expr(self):
        node = self.unary()
        while self.is_word("and"):
            self.take()
            node = BoolOp("and", node, self.unary())
        return node

    def unary(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ODataError("The $filter is nested too deeply.")
        try:
            token = self.peek()
            if token is None:
                raise ODataError("Syntax error: the $filter ends too early.")
            if token.text == "not":
                self.take()
                return Not(self.unary())
            if token.text == "(":
                self.take()
                node = self.or_expr()
                self.expect(")")
                return node
            if token.kind == "name" and token.text in STRING_TESTS:
                return self.string_test()
            if token.kind == "name" and token.text.rsplit("/", 1)[-1] in ("any", "all") and "/" in token.text:
                return self.lambda_expression()
            return self.comparison()
        finally:
            self.depth -= 1

    def lambda_expression(self):
        if self.variable is not None:
            raise ODataError("Nested any()/all() is not supported.")
        collection, quantifier = self.take().text.rsplit("/", 1)
        self.expect("(")
        variable = self.take()
        if variable.kind != "name":
            raise ODataError(f"Syntax error: expected a lambda variable at position {variable.position}.")
        self.expect(":")
        self.variable = variable.text
        try:
            body = self.or_expr()
        finally:
            self.variable = None
        self.expect(")")
        return Lambda(collection, quantifier, body)

    def string_test(self):
        function = self.take().text
        self.expect("(")
        prop = self.property()
        self.expect(",")
        literal = self.literal()
        self.expect(")")
        if literal.kind != "string":
            raise ODataError(f"{function}() takes a string literal.")
        return StringTest(function, prop, literal)

    def comparison(self):
        prop = self.property()
        token = self.take()
        if token.kind != "name" or token.text not in COMPARISONS:
            raise ODataError(f"Syntax error: expected an operator (eq, ne, gt, ge, lt, le) at position "
                             f"{token.position}, found '{token.text}'.")
        return Compare(prop, token.text, self.literal())

    def property(self):
        token = self.take()
        if token.kind != "name" or token.text in COMPARISONS | {"and", "or", "not"}:
            raise ODataError(f"Syntax error: expected a property name at position {token.position}.")
        if token.text in DATE_PARTS and self.peek() is not None and self.peek().text == "(":
            self.take()
            inner = self.take()
            if inner.kind != "name":
                raise ODataError(f"{token.text}() takes a property name.")
            self.expect(")")
            return Property(self.scoped(inner.text), token.text)
        return Property(self.scoped(token.text))

    def scoped(self, name):
        """Inside any()/all() a property is written `i/Sku`; outside, a bare `i/...` is unknown."""
        if self.variable is None:
            return name
        prefix = self.variable + "/"
        if not name.startswith(prefix):
            raise ODataError(f"Inside the lambda, properties must start with '{prefix}', not '{name}'.")
        return name[len(prefix):]

    def literal(self):
        token = self.take()
        if token.kind == "string":
            value = token.text[1:-1].replace("''", "'")
            if "\x00" in value:
                raise ODataError("String literals cannot contain NUL characters.")
            return Literal("string", value)
        if token.kind == "datetime":
            return Literal("datetime", parse_datetime_literal(token.text))
        if token.kind == "number":
            return Literal("number", parse_number_literal(token.text))
        if token.kind == "name" and token.text in ("true", "false"):
            return Literal("bool", token.text == "true")
        if token.kind == "name" and token.text == "null":
            return Literal("null", None)
        raise ODataError(f"Syntax error: expected a literal at position {token.position}, found '{token.text}'.")


def parse_datetime_literal(text):
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ODataError(f"'{text}' is not a valid date and time.") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ODataError(f"'{text}' is out of range.") from None


def parse_number_literal(text):
    if text[-1] in "mMdDfFlL":
        text = text[:-1]
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ODataError(f"'{text}' is not a valid number.") from None
    if not value.is_finite() or abs(value) >= MAX_DECIMAL * 10**7:
        raise ODataError(f"The number '{text}' is out of range.")
    return value


def parse_filter(text):
    return Parser(text).parse()


# --- $filter: AST -> Q ---

def to_q(node, resource):
    if isinstance(node, BoolOp):
        left, right = to_q(node.left, resource), to_q(node.right, resource)
        return left & right if node.op == "and" else left | right
    if isinstance(node, Not):
        return ~to_q(node.operand, resource)
    if isinstance(node, Lambda):
        found = resource.collections.get(node.collection)
        if found is None:
            raise ODataError(f"Could not find a collection named '{node.collection}' on type "
                             f"'{resource.type_name}'.")
        child_resource, model, parent = found
        condition = to_q(node.body, child_resource)
        if node.quantifier == "any":
            return Q(pk__in=model.objects.filter(condition).values(parent))
        return ~Q(pk__in=model.objects.filter(~condition).values(parent))
    if isinstance(node, StringTest):
        prop = resource.field(node.prop.name)
        if prop.kind not in ("str", "enum") or node.prop.function:
            raise ODataError(f"{node.function}() needs a string property, not '{node.prop.name}'.")
        return _scoped(prop, {f"{prop.column}__{STRING_TESTS[node.function]}": node.literal.value})
    return _compare_q(node, resource)


def _compare_q(node, resource):
    prop = resource.field(node.prop.name)
    literal, op = node.literal, node.op
    if node.prop.function:
        if prop.kind != "datetime":
            raise ODataError(f"{node.prop.function}() needs a date property, not '{node.prop.name}'.")
        if literal.kind != "number" or literal.value != literal.value.to_integral_value():
            raise ODataError(f"{node.prop.function}() is compared with a whole number.")
        column, value = f"{prop.column}__{node.prop.function}", int(literal.value)
        low, high = DATE_PART_RANGES[node.prop.function]
        if not low <= value <= high:
            raise ODataError(f"{node.prop.function}() is between {low} and {high}, not {value}.")
    elif literal.kind == "null":
        if op not in ("eq", "ne"):
            raise ODataError("null can only be compared with eq or ne.")
        positive = _scoped(prop, {f"{prop.column}__isnull": True})
        return positive if op == "eq" else ~positive
    else:
        column, value = prop.column, _coerce(prop, node.prop.name, literal)
    positive = _scoped(prop, {f"{column}__{LOOKUPS.get(op, 'exact')}": value})
    return ~positive if op == "ne" else positive


def _scoped(prop, lookup):
    """A plain lookup, or for a child-collection property 'any child matches' as an id subquery."""
    if prop.collection is None:
        return Q(**lookup)
    model, parent = prop.collection
    return Q(pk__in=model.objects.filter(**lookup).values(parent))


def _coerce(prop, name, literal):
    mismatch = ODataError(f"A binary operator with incompatible types was detected. Found operand types "
                          f"'{name}' ({prop.kind}) and a {literal.kind} literal.")
    if prop.kind in ("str", "enum"):
        if literal.kind != "string":
            raise mismatch
        if prop.kind == "enum":
            match = {choice.lower(): choice for choice in prop.choices}.get(literal.value.lower())
            if match is None:
                raise ODataError(f"The string '{literal.value}' is not a valid enumeration value for '{name}'.")
            return match
        return literal.value
    if prop.kind == "datetime":
        if literal.kind != "datetime":
            raise mismatch
        return literal.value
    if prop.kind == "bool":
        if literal.kind != "bool":
            raise mismatch
        return literal.value
    if literal.kind != "number":
        raise mismatch
    if prop.kind == "int":
        if literal.value != literal.value.to_integral_value() or abs(literal.value) > MAX_INT:
            raise ODataError(f"'{literal.value}' is not a valid whole number for '{name}'.")
        return int(literal.value)
    if abs(literal.value) >= MAX_DECIMAL:
        raise ODataError(f"The number '{literal.value}' is out of range for '{name}'.")
    return literal.value


def filter_q(text, resource):
    return to_q(parse_filter(text), resource)


# --- $orderby, $select, $expand, $top, $skip ---

def parse_orderby(text, resource):
    """'CreatedDateUtc desc, ID' -> ['-created_date_utc', 'id']; the primary key always breaks ties."""
    ordering = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise ODataError(f"The $orderby clause '{part.strip()}' is not valid.")
        prop = resource.field(words[0])
        if prop.collection is not None:
            raise ODataError(f"Cannot order by the collection property '{words[0]}'.")
        descending = len(words) == 2 and words[1].lower() == "desc"
        ordering.append(("-" if descending else "") + prop.column)
    if "id" not in {column.lstrip("-") for column in ordering}:
        ordering.append("id")
    return ordering


def parse_select(text, resource):
    names = [name.strip() for name in text.split(",")]
    lookup = {name.lower(): name for name in resource.properties}
    selected = []
    for name in names:
        if name == "*":
            return None
        canonical = lookup.get(name.lower())
        if canonical is None:
            raise ODataError(f"Could not find a property named '{name}' on type '{resource.type_name}'.")
        selected.append(canonical)
    return selected


def split_top_level(text, separator):
    """Split on `separator` outside parentheses: 'Items($expand=A,B),Fulfillments' -> two parts."""
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ODataError("Unbalanced parentheses in $expand.")
        if char == separator and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise ODataError("Unbalanced parentheses in $expand.")
    parts.append("".join(current))
    return parts


EXPAND_ITEM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$", re.DOTALL)


def parse_expand(text, allowed, depth=0):
    """'Items($expand=FulfillmentItems),Fulfillments' -> {'Items': {'FulfillmentItems': {}}, 'Fulfillments': {}}.

    `allowed` maps each expandable name to what may be expanded inside it (same shape). Other nested options
    ($select, $top...) are accepted and ignored."""
    if len(text) > MAX_QUERY_LENGTH or depth > 5:
        raise ODataError("The $expand is too long.")
    tree = {}
    lookup = {name.lower(): name for name in allowed}
    for part in split_top_level(text, ","):
        match = EXPAND_ITEM.match(part)
        if match is None:
            raise ODataError(f"The $expand clause '{part.strip()}' is not valid.")
        name = lookup.get(match.group(1).lower())
        if name is None:
            raise ODataError(f"Could not find a navigation property named '{match.group(1)}'.")
        nested = {}
        for option in split_top_level(match.group(2) or "", ";"):
            key, _, value = option.partition("=")
            if key.strip() == "$expand":
                nested = parse_expand(value, allowed[name], depth + 1)
        tree[name] = nested
    return tree


def parse_count(text, name):
    # ASCII digits only: int() also takes "1_0", " 5" and other scripts' digits ("５"), which OData refuses.
    if not isinstance(text, str) or not re.fullmatch(r"[0-9]{1,10}", text):
        raise ODataError(f"Invalid value '{text}' for {name}: a non-negative whole number is expected.")
    value = int(text)
    if value > 2**31 - 1:
        raise ODataError(f"Invalid value '{text}' for {name}: a non-negative whole number is expected.")
    return value


def parse_bool(text, name):
    value = str(text).strip().lower()
    if value not in ("true", "false"):
        raise ODataError(f"Invalid value '{text}' for {name}: true or false is expected.")
    return value == "true"


@dataclass
class Query:
    """The query options of one list request, parsed and checked."""

    filter: Q | None = None
    ordering: list = field(default_factory=lambda: ["id"])
    select: list | None = None
    expand: dict = field(default_factory=dict)
    top: int | None = None
    skip: int = 0
    count: bool = False


def parse_query(params, resource, expand_allowed):
    """Read $filter, $orderby, $select, $expand, $top, $skip, $count from a QueryDict."""
    query = Query()
    if params.get("$filter", "").strip():
        query.filter = filter_q(params["$filter"], resource)
    if params.get("$orderby", "").strip():
        query.ordering = parse_orderby(params["$orderby"], resource)
    if params.get("$select", "").strip():
        query.select = parse_select(params["$select"], resource)
    if params.get("$expand", "").strip():
        query.expand = parse_expand(params["$expand"], expand_allowed)
    if "$top" in params:
        query.top = parse_count(params["$top"], "$top")
    if "$skip" in params:
        query.skip = parse_count(params["$skip"], "$skip")
    if "$count" in params:
        query.count = parse_bool(params["$count"], "$count")
    return query


def project(entity, select, expand=()):
    """Keep only the $select-ed properties; expanded collections and annotations stay."""
    if select is None:
        return entity
    return {key: value for key, value in entity.items()
            if key in select or key in expand or key.startswith("@")}

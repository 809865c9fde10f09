"""The heart of chainrule: abstract values, primitives, interpreters and the IR.

A transform is a reinterpretation. Every operation bottoms out in
``bind(prim, *args, **params)``, which hands it to the *current interpreter*
(a context variable). Each interpreter knows its parent: it unpacks its own
tracers, does its work by binding in the parent, and wraps the result in a new
tracer tagged with itself. Values of any other interpreter are constants to
it, which is what keeps nested transforms from confusing their perturbations.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
from typing import Any, Callable, NamedTuple

import numpy as np

from .config import check_nans, config

# ----------------------------------------------------------------- errors --


class ChainruleError(Exception):
    """Base class of chainrule's own errors."""


class ConcretizationError(ChainruleError, TypeError):
    """A traced value was used where Python needs a concrete one."""


class EscapedTracerError(ChainruleError):
    """A traced value was used after its transform had finished."""


def missing_rule(prim: Primitive, transform: str) -> NotImplementedError:
    return NotImplementedError(
        f"primitive '{prim.name}' has no {transform} rule, so it cannot be used "
        f"under {transform}")


# -------------------------------------------------------- abstract values --


class ShapedArray(NamedTuple):
    """The abstract value of an array: what tracing knows about it."""

    shape: tuple
    dtype: np.dtype

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def str_short(self):
        return f"{dtype_short(self.dtype)}[{','.join(map(str, self.shape))}]"

    def __repr__(self):
        return f"ShapedArray({self.str_short()})"


_SHORT = {"float64": "f64", "float32": "f32", "float16": "f16", "int64": "i64",
          "int32": "i32", "int16": "i16", "int8": "i8", "uint8": "u8", "uint32": "u32",
          "uint64": "u64", "bool": "bool", "complex128": "c128", "complex64": "c64"}


def dtype_short(dtype) -> str:
    return _SHORT.get(np.dtype(dtype).name, np.dtype(dtype).name)


def get_aval(x) -> ShapedArray:
    if isinstance(x, Tracer):
        return x.aval
    if isinstance(x, (np.ndarray, np.generic)):
        return ShapedArray(x.shape, x.dtype)
    return ShapedArray((), np.asarray(x).dtype)


def is_float(dtype) -> bool:
    """Whether values of this dtype carry derivatives (floats and complex)."""
    return np.dtype(dtype).kind in "fc"


# A dtype for the tangents and cotangents of integer and boolean values, which
# have none; the same convention as JAX's float0.
float0 = np.dtype([("float0", np.void, 0)])


def zeros_float0(shape) -> np.ndarray:
    return np.zeros(shape, dtype=float0)


# ------------------------------------------------------------- primitives --


class Primitive:
    """An operation the interpreters know, with all its rules in one place.

    Rule signatures (operands positional, params keyword-only):

    - ``impl(*arrays, **params) -> array``: NumPy implementation.
    - ``abstract_eval(*avals, **params) -> ShapedArray``: shapes and dtypes;
      raises the user-facing shape errors.
    - ``jvp(primals, tangents, out, **params) -> tangent``: tangents are
      ``None`` for symbolic zeros; ``out`` is the primal output.
    - ``vjp(ct, out, *primals, wants, **params) -> tuple``: one cotangent per
      operand (``None`` where there is none); ``wants[i]`` says whether
      operand ``i`` needs one, so that unneeded work is skipped.
    - ``jvp_full(primals, tangents, **params) -> (out, tangent)``: optional,
      for call-like primitives that compute the primal and tangent together.
    - ``vjp_fwd(*primals, **params) -> (out, residuals)``: optional, for
      primitives whose VJP needs values other than inputs and outputs (custom
      rules, loops); reverse mode then calls it instead of binding, and passes
      ``residuals=`` to ``vjp``. With ``vjp_fwd_wants`` set, it also gets
      ``wants=`` (as ``vjp`` will), so that it saves only what those need.
    - ``batch(axis_size, args, dims, **params) -> (out, out_dim)``: vmap.
    - ``lower``: how jit emits it (an expression in a fused kernel).
    - ``lower_call(compile, **params) -> impl``: optional, for primitives
      that run Jaxprs (control flow): the impl jit calls, with each Jaxpr
      compiled by ``compile(jaxpr) -> callable`` instead of interpreted (the
      callable takes ndarrays of exactly the Jaxpr's input dtypes);
      ``compile.scan(jaxpr, **params)`` is a whole compiled scan.

    Multi-result primitives (``multiple_results=True``) take and return
    lists for ``out``, tangents and cotangents.
    """

    def __init__(self, name: str, *, multiple_results: bool = False):
        self.name = name
        self.multiple_results = multiple_results
        self.impl: Callable | None = None
        self.abstract_eval: Callable | None = None
        self.jvp: Callable | None = None
        self.vjp: Callable | None = None
        self.vjp_fwd: Callable | None = None
        self.vjp_fwd_wants = False
        self.jvp_full: Callable | None = None
        self.batch: Callable | None = None
        self.lower: Callable | None = None
        self.lower_call: Callable | None = None
        self.samples: Callable | None = None  # () -> [(args, params)] for tests
        registry[name] = self

    def bind(self, *args, **params):
        return current_interpreter().process_primitive(self, args, params)

    def __repr__(self):
        return self.name


registry: dict[str, Primitive] = {}


def bind(prim: Primitive, *args, **params):
    return current_interpreter().process_primitive(prim, args, params)


# ------------------------------------------------- interpreters & tracers --


class Interpreter:
    """Base class: a way of running primitives.

    ``parent`` is the interpreter the values inside this one's tracers belong
    to. ``alive`` turns False when the transform ends, so that a tracer that
    escapes is caught when it is next used.
    """

    name = "interpreter"

    def __init__(self, parent: Interpreter | None):
        self.parent = parent
        self.alive = True
        self.depth = 0 if parent is None else parent.depth + 1

    def process_primitive(self, prim, args, params):
        raise NotImplementedError

    def owns(self, x) -> bool:
        """Whether ``x`` is a tracer of this interpreter (and not a constant).

        Tracers of ancestors are constants here; tracers of anything else have
        escaped their transform and raise.
        """
        if not isinstance(x, Tracer):
            return False
        interp = x._interp
        if interp is self:
            return True
        if interp.alive and interp.depth < self.depth:
            ancestor = self.parent
            while ancestor is not None and ancestor.depth > interp.depth:
                ancestor = ancestor.parent
            if ancestor is interp:
                return False
        raise EscapedTracerError(
            f"a value traced by {interp.name} was used outside that transform "
            f"(value {x.aval.str_short()}). This happens when a traced value is "
            "stored in a global, a closure or an attribute and used after the "
            "transform returned; return it from the function instead.")


_quiet = contextvars.ContextVar("chainrule_fp_errors_ignored", default=False)


class quiet_fp:
    """NumPy's floating-point warnings off: NaN and inf are values here, as
    under jit (masked branches of ``where`` ...). Entered once for nested
    uses: ``np.errstate`` costs about a microsecond, which per primitive of
    an eager ``grad`` was a tenth of its time."""

    __slots__ = ("state", "token")

    def __enter__(self):
        if _quiet.get():
            self.token = None
            return self
        self.state = np.errstate(all="ignore")
        self.state.__enter__()
        self.token = _quiet.set(True)
        return self

    def __exit__(self, *exc):
        if self.token is not None:
            _quiet.reset(self.token)
            self.state.__exit__(*exc)


class EvalInterpreter(Interpreter):
    """The bottom of every chain: run the NumPy implementation."""

    name = "eval"

    def process_primitive(self, prim, args, params):
        impl = prim.impl
        if impl is None:
            raise missing_rule(prim, "eval")
        for a in args:
            if isinstance(a, Tracer):
                self.owns(a)  # raises EscapedTracerError
        try:
            # NaN/inf are values here, as under jit: no RuntimeWarnings from
            # NumPy into the user's program (masked branches of where, ...)
            if _quiet.get():
                out = impl(*args, **params)
            else:
                with quiet_fp():
                    out = impl(*args, **params)
        except Exception as err:
            # Give the shape rule the chance to say what went wrong in the
            # user's own terms (op name and shapes) before NumPy's message.
            if prim.abstract_eval is not None:
                prim.abstract_eval(*[get_aval(a) for a in args], **params)
            raise err
        if prim.multiple_results:
            out = [np.asarray(o) for o in out]
        elif type(out) is not np.ndarray:
            out = np.asarray(out)
        if config.debug_nans:
            check_nans(prim.name, out)
        return out


_eval = EvalInterpreter(None)
_current: contextvars.ContextVar[Interpreter] = contextvars.ContextVar(
    "chainrule_interpreter", default=_eval)


def current_interpreter() -> Interpreter:
    return _current.get()


@contextlib.contextmanager
def set_interpreter(interp: Interpreter):
    token = _current.set(interp)
    try:
        yield interp
    finally:
        _current.reset(token)


@contextlib.contextmanager
def new_interpreter(cls, *args, **kwargs):
    """Open a transform's interpreter as a child of the current one."""
    interp = cls(current_interpreter(), *args, **kwargs)
    token = _current.set(interp)
    try:
        yield interp
    finally:
        _current.reset(token)
        interp.alive = False


def bind_in(interp: Interpreter, prim: Primitive, args, params):
    """Bind ``prim`` with ``interp`` as the current interpreter."""
    if interp is _eval and not prim.multiple_results:
        # the hot path of eager transforms: single-result impls are plain
        # NumPy and never bind, so the context switch can be skipped
        return interp.process_primitive(prim, args, params)
    token = _current.set(interp)
    try:
        return interp.process_primitive(prim, args, params)
    finally:
        _current.reset(token)


class Tracer:
    """A value seen by an interpreter; behaves like an array.

    Operators and methods forward to ``chainrule.numpy`` so that user code
    written with them is traced. The high ``__array_priority__`` (and no
    ``__array_ufunc__``) makes NumPy defer ``ndarray + tracer`` to us, while
    ``np.sin(tracer)`` asks for ``__array__``, which says to use chainrule.numpy.
    """

    __slots__ = ("_interp",)
    __array_priority__ = 1000
    aval: ShapedArray  # a slot or a property in each subclass

    # -- what Python needs concretely --------------------------------------
    def _concrete(self, what):
        """The concrete value behind this tracer, or a clear error.

        Tracers of transforms that carry real values (grad, jvp) override this
        to return their primal, which is why ``if x > 0:`` works in eager grad.
        """
        raise ConcretizationError(
            f"{what} needs a concrete value, but got a traced value "
            f"{self.aval.str_short()} inside {self._interp.name}. Python control "
            "flow and conversions cannot depend on traced values here: mark the "
            "argument static (static_argnums) or use chainrule.lax.cond / "
            "chainrule.lax.while_loop / chainrule.numpy.where.")

    def __bool__(self):
        return bool(self._concrete("bool(x) (an `if` or `while` on a traced value)"))

    def __float__(self):
        return float(self._concrete("float(x)"))

    def __int__(self):
        return int(self._concrete("int(x)"))

    def __index__(self):
        return int(self._concrete("using a traced value as an index"))

    def __complex__(self):
        return complex(self._concrete("complex(x)"))

    def __array__(self, dtype=None, copy=None):
        raise ConcretizationError(
            f"a traced value ({self.aval.str_short()}, {self._interp.name}) was "
            "passed to plain NumPy. NumPy functions cannot see derivatives: use "
            "chainrule.numpy (import chainrule.numpy as cnp) inside functions "
            "you transform.")

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __hash__(self):
        return id(self)

    def __repr__(self):
        return f"{type(self).__name__}<{self.aval.str_short()}>"

    # -- array attributes --------------------------------------------------
    shape = property(lambda self: self.aval.shape)
    dtype = property(lambda self: self.aval.dtype)
    ndim = property(lambda self: len(self.aval.shape))
    size = property(lambda self: self.aval.size)


class PrimalTracer(Tracer):
    """A tracer that carries a real value (``primal``): an ndarray, or a
    tracer of the parent interpreter. grad's and jvp's tracers are these.

    Shape and dtype come from the primal directly (cheaper than building an
    abstract value per tracer), and Python control flow sees the primal,
    which is why ``if x > 0:`` works in eager ``grad``.
    """

    __slots__ = ("primal",)

    aval = property(lambda self: get_aval(self.primal))
    shape = property(lambda self: self.primal.shape)
    dtype = property(lambda self: self.primal.dtype)
    ndim = property(lambda self: self.primal.ndim)

    def _concrete(self, what):
        return self.primal


# Operators and methods are attached by chainrule.numpy (see
# chainrule/numpy/_methods.py), which is where their semantics live.


# ---------------------------------------------------------------------- IR --

_names = itertools.count()


class Var:
    """A variable of the IR, named when printed."""

    __slots__ = ("aval", "count")

    def __init__(self, aval: ShapedArray):
        self.aval = aval
        self.count = next(_names)

    def __repr__(self):
        return f"Var({self.aval.str_short()})"


class Literal:
    """A scalar constant written inline in the IR."""

    __slots__ = ("val", "aval")

    def __init__(self, val):
        self.val = np.asarray(val)
        self.aval = get_aval(self.val)

    def __repr__(self):
        return f"{self.val.item()!r}:{dtype_short(self.aval.dtype)}"


class Eqn(NamedTuple):
    prim: Primitive
    inputs: list  # Var | Literal
    outputs: list  # Var
    params: dict


class Jaxpr(NamedTuple):
    """A function as a list of equations: ``outputs = eqns(constvars, invars)``."""

    constvars: list
    invars: list
    eqns: list
    outvars: list  # Var | Literal

    def __str__(self):
        return pp_jaxpr(self)

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))


class ClosedJaxpr(NamedTuple):
    """A Jaxpr with the values of its constants."""

    jaxpr: Jaxpr
    consts: list

    def __str__(self):
        return pp_jaxpr(self.jaxpr)

    def __call__(self, *args):
        out = eval_jaxpr(self.jaxpr, self.consts, *args)
        return out

    @property
    def eqns(self):
        return self.jaxpr.eqns

    @property
    def in_avals(self):
        return [v.aval for v in self.jaxpr.invars]

    @property
    def out_avals(self):
        return [v.aval for v in self.jaxpr.outvars]


def _name(n: int) -> str:
    s = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(97 + r) + s
    return s


def _fmt_param(v):
    if isinstance(v, (ClosedJaxpr, Jaxpr)):
        return "{...}"
    if isinstance(v, tuple) and v and all(isinstance(e, (ClosedJaxpr, Jaxpr)) for e in v):
        return "(" + ", ".join("{...}" for _ in v) + ")"
    if callable(v) and hasattr(v, "__name__"):
        return v.__name__
    if isinstance(v, np.dtype) or (isinstance(v, type) and issubclass(v, np.generic)):
        return np.dtype(v).name
    return repr(v)


def pp_jaxpr(jaxpr: Jaxpr) -> str:
    """Print the IR; names follow first appearance (a, b, c, ...)."""
    names: dict[int, str] = {}

    def name(v):
        if isinstance(v, Literal):
            return repr(v)
        if id(v) not in names:
            names[id(v)] = _name(len(names))
        return names[id(v)]

    def decl(v):
        return f"{name(v)}:{v.aval.str_short()}"

    consts = " ".join(decl(v) for v in jaxpr.constvars)
    ins = " ".join(decl(v) for v in jaxpr.invars)
    lines = [f"{{ lambda {consts}{' ' if consts else ''}; {ins}. let"]
    for eqn in jaxpr.eqns:
        params = ", ".join(f"{k}={_fmt_param(v)}" for k, v in eqn.params.items())
        lhs = " ".join(decl(v) for v in eqn.outputs)
        rhs = " ".join(name(v) for v in eqn.inputs)
        lines.append(f"    {lhs} = {eqn.prim.name}{'[' + params + ']' if params else ''} {rhs}")
    outs = ", ".join(name(v) for v in jaxpr.outvars)
    lines.append(f"  in ({outs}) }}")
    return "\n".join(lines)


def param_jaxprs(params):
    """The Jaxprs among an equation's params (a loop's body, a cond's
    branches, a call's function), in order."""
    for v in params.values():
        if isinstance(v, (Jaxpr, ClosedJaxpr)):
            yield v
        elif isinstance(v, (tuple, list)):
            for w in v:
                if isinstance(w, (Jaxpr, ClosedJaxpr)):
                    yield w


def live_eqns(eqns, outvars) -> list:
    """The equations (in order) that ``outvars`` need, and those with effects:
    dead-code elimination."""
    live = {id(v) for v in outvars if isinstance(v, Var)}
    kept = []
    for e in reversed(eqns):
        if getattr(e.prim, "effect", False) or any(id(v) in live for v in e.outputs):
            kept.append(e)
            live.update(id(a) for a in e.inputs if isinstance(a, Var))
    return kept[::-1]


def eval_jaxpr(jaxpr: Jaxpr, consts, *args):
    """Run a Jaxpr through ``bind``, so that it can itself be transformed."""
    env: dict[int, Any] = {}

    def read(v):
        return v.val if isinstance(v, Literal) else env[id(v)]

    if len(args) != len(jaxpr.invars):
        raise TypeError(f"jaxpr takes {len(jaxpr.invars)} arguments, got {len(args)}")
    for v, x in itertools.chain(zip(jaxpr.constvars, consts), zip(jaxpr.invars, args)):
        env[id(v)] = x
    for eqn in jaxpr.eqns:
        out = eqn.prim.bind(*map(read, eqn.inputs), **eqn.params)
        if eqn.prim.multiple_results:
            for v, o in zip(eqn.outputs, out):
                env[id(v)] = o
        else:
            env[id(eqn.outputs[0])] = out
    return [read(v) for v in jaxpr.outvars]


def check_jaxpr(jaxpr: Jaxpr) -> None:
    """Type-check: every variable defined once before use, avals consistent."""
    defined = set(map(id, jaxpr.constvars)) | set(map(id, jaxpr.invars))
    for eqn in jaxpr.eqns:
        for v in eqn.inputs:
            if isinstance(v, Var) and id(v) not in defined:
                raise TypeError(f"{eqn.prim.name}: input used before definition")
        avals = eqn.prim.abstract_eval(*[v.aval for v in eqn.inputs], **eqn.params)
        avals = avals if eqn.prim.multiple_results else [avals]
        for v, a in zip(eqn.outputs, avals):
            if (tuple(v.aval.shape), np.dtype(v.aval.dtype)) != (tuple(a.shape), np.dtype(a.dtype)):
                raise TypeError(f"{eqn.prim.name}: output is {v.aval.str_short()}, "
                                f"its rule says {a.str_short()}")
            defined.add(id(v))
    for v in jaxpr.outvars:
        if isinstance(v, Var) and id(v) not in defined:
            raise TypeError("output variable is never defined")


# ---------------------------------------------- staging (tracing to a Jaxpr) --


class StagingTracer(Tracer):
    __slots__ = ("ir_var", "aval")  # not "var": tracers have ndarray's .var() method

    def __init__(self, interp, var: Var):
        self._interp = interp
        self.aval = var.aval
        self.ir_var = var


class StagingInterpreter(Interpreter):
    """Record equations instead of running them: builds a Jaxpr.

    Operations on values it does not own (constants) are evaluated right away
    in the parent, which is partial evaluation: only what depends on the
    inputs is staged. Constants that are used by staged equations become
    constvars (scalars become literals).
    """

    name = "make_jaxpr"

    def __init__(self, parent, name: str = "make_jaxpr"):
        super().__init__(parent)
        self.name = name
        self.eqns: list[Eqn] = []
        self.constvars: dict[int, tuple[Var, Any]] = {}

    def new_arg(self, aval: ShapedArray) -> StagingTracer:
        return StagingTracer(self, Var(ShapedArray(tuple(aval.shape), np.dtype(aval.dtype))))

    def to_atom(self, x):
        if self.owns(x):
            return x.ir_var
        if not isinstance(x, Tracer) and np.ndim(x) == 0:
            return Literal(x)
        key = id(x)
        if key not in self.constvars:
            self.constvars[key] = (Var(get_aval(x)), x)
        return self.constvars[key][0]

    def process_primitive(self, prim, args, params):
        if not any(self.owns(a) for a in args):
            return bind_in(self.parent, prim, args, params)
        if prim.abstract_eval is None:
            raise missing_rule(prim, "tracing (abstract evaluation)")
        atoms = [self.to_atom(a) for a in args]
        avals = prim.abstract_eval(*[a.aval for a in atoms], **params)
        avals = avals if prim.multiple_results else [avals]
        outs = [Var(ShapedArray(tuple(a.shape), np.dtype(a.dtype))) for a in avals]
        self.eqns.append(Eqn(prim, atoms, outs, params))
        tracers = [StagingTracer(self, v) for v in outs]
        return tracers if prim.multiple_results else tracers[0]

    def build(self, in_tracers, out_vals) -> ClosedJaxpr:
        outvars = [self.to_atom(x) for x in out_vals]
        constvars = [v for v, _ in self.constvars.values()]
        consts = [c for _, c in self.constvars.values()]
        jaxpr = Jaxpr(constvars, [t.ir_var for t in in_tracers], self.eqns, outvars)
        return ClosedJaxpr(jaxpr, consts)


def trace_to_jaxpr(flat_fun, in_avals, name="make_jaxpr") -> ClosedJaxpr:
    """Trace ``flat_fun(*arrays) -> list of arrays`` at the given avals."""
    with new_interpreter(StagingInterpreter, name) as interp:
        in_tracers = [interp.new_arg(a) for a in in_avals]
        outs = flat_fun(*in_tracers)
        return interp.build(in_tracers, outs)

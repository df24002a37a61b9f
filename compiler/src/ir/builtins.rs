//! The builtins: which jq names exist, how many arguments they take and
//! how, and which are refused in rules. Builtins that jq defines in jq
//! (`map`, `select`, `to_entries`' friends, `capture`, …) come from our
//! prelude ([`PRELUDE`]), parsed by our own parser and inlined like user
//! `def`s; the rest are [`Builtin`]s that the runtime implements natively.
//!
//! Value arguments are evaluated on the input and combined as jq does:
//! for builtins jq implements in C (`setpath`, `pow`, …) the last argument
//! is the outer loop; for the ones jq defines in jq with `$params`
//! (`test`, `range`, …) the first one is ([`ArgOrder`]).

/// Our definitions of the builtins jq writes in jq. Each is
/// non-recursive, so it inlines. Their behaviour is gojq's where jq 1.6
/// and gojq differ (`any/1` short-circuits, `nth/2` gives nothing past
/// the end).
pub const PRELUDE: &str = include_str!("prelude.jq");

/// How a builtin takes its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Args {
    /// Every argument is a value (cartesian product over their outputs).
    Values(ArgOrder),
    /// Arguments are filters the builtin runs itself.
    Filters,
    /// `limit`, `nth`: the first argument is a value, the second a filter.
    ValueThenFilter,
    /// `sub`: a value, a filter (run on each match), a value.
    Sub,
}

/// Which value argument is the outer loop of the cartesian product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgOrder {
    /// The first argument varies slowest (jq-defined builtins).
    FirstOuter,
    /// The last argument varies slowest (C-defined builtins).
    LastOuter,
}

macro_rules! builtins {
    ($( $variant:ident = $name:literal / $arity:literal $args:expr ),* $(,)?) => {
        /// A builtin the runtime implements natively.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(missing_docs)] // each variant is the jq builtin of the name in `name()`
        pub enum Builtin {
            $( $variant, )*
        }

        impl Builtin {
            /// The jq name.
            pub fn name(self) -> &'static str {
                match self { $( Builtin::$variant => $name, )* }
            }

            /// The number of arguments.
            pub fn arity(self) -> usize {
                match self { $( Builtin::$variant => $arity, )* }
            }

            /// How it takes its arguments.
            pub fn args(self) -> Args {
                match self { $( Builtin::$variant => $args, )* }
            }

            /// The builtin called `name` with `arity` arguments.
            pub fn lookup(name: &str, arity: usize) -> Option<Builtin> {
                match (name, arity) {
                    $( ($name, $arity) => Some(Builtin::$variant), )*
                    _ => None,
                }
            }

            /// Every builtin.
            pub const ALL: &'static [Builtin] = &[ $( Builtin::$variant, )* ];
        }
    };
}

impl Builtin {
    /// `values`, `nulls`, `booleans`, `numbers`, `strings`, `arrays`,
    /// `objects`, `iterables`, `scalars`: the input when it is of the
    /// type, else no output.
    pub fn is_type_selector(self) -> bool {
        use Builtin::*;
        matches!(
            self,
            Values | Nulls | Booleans | Numbers | Strings | Arrays | Objects | Iterables | Scalars
        )
    }
}

const V: Args = Args::Values(ArgOrder::FirstOuter);
const C: Args = Args::Values(ArgOrder::LastOuter);
const F: Args = Args::Filters;

builtins! {
    // The input alone.
    Not = "not"/0 V,
    Length = "length"/0 V,
    Utf8ByteLength = "utf8bytelength"/0 V,
    Keys = "keys"/0 V,
    KeysUnsorted = "keys_unsorted"/0 V,
    Type = "type"/0 V,
    ToString = "tostring"/0 V,
    ToNumber = "tonumber"/0 V,
    ToJson = "tojson"/0 V,
    FromJson = "fromjson"/0 V,
    AsciiDowncase = "ascii_downcase"/0 V,
    AsciiUpcase = "ascii_upcase"/0 V,
    Explode = "explode"/0 V,
    Implode = "implode"/0 V,
    Trim = "trim"/0 V,
    Ltrim = "ltrim"/0 V,
    Rtrim = "rtrim"/0 V,
    Sort = "sort"/0 V,
    Unique = "unique"/0 V,
    Min = "min"/0 V,
    Max = "max"/0 V,
    Reverse = "reverse"/0 V,
    Add = "add"/0 V,
    Flatten = "flatten"/0 V,
    ToEntries = "to_entries"/0 V,
    FromEntries = "from_entries"/0 V,
    Transpose = "transpose"/0 V,
    Combinations = "combinations"/0 V,
    Tostream = "tostream"/0 V,
    Infinite = "infinite"/0 V,
    Nan = "nan"/0 V,
    IsInfinite = "isinfinite"/0 V,
    IsNan = "isnan"/0 V,
    IsNormal = "isnormal"/0 V,
    Now = "now"/0 V,
    Mktime = "mktime"/0 V,
    Gmtime = "gmtime"/0 V,
    Localtime = "localtime"/0 V,
    Error0 = "error"/0 V,
    Ascii = "ascii"/0 V,
    Floor = "floor"/0 V,
    Ceil = "ceil"/0 V,
    Round = "round"/0 V,
    Sqrt = "sqrt"/0 V,
    Fabs = "fabs"/0 V,
    Trunc = "trunc"/0 V,
    Rint = "rint"/0 V,
    Nearbyint = "nearbyint"/0 V,
    Exp = "exp"/0 V,
    Exp2 = "exp2"/0 V,
    Exp10 = "exp10"/0 V,
    Log = "log"/0 V,
    Log2 = "log2"/0 V,
    Log10 = "log10"/0 V,
    Log1p = "log1p"/0 V,
    Expm1 = "expm1"/0 V,
    Sin = "sin"/0 V,
    Cos = "cos"/0 V,
    Tan = "tan"/0 V,
    Asin = "asin"/0 V,
    Acos = "acos"/0 V,
    Atan = "atan"/0 V,
    Sinh = "sinh"/0 V,
    Cosh = "cosh"/0 V,
    Tanh = "tanh"/0 V,
    Asinh = "asinh"/0 V,
    Acosh = "acosh"/0 V,
    Atanh = "atanh"/0 V,
    Cbrt = "cbrt"/0 V,
    Significand = "significand"/0 V,
    Logb = "logb"/0 V,
    Frexp = "frexp"/0 V,
    Modf = "modf"/0 V,
    Abs = "abs"/0 V,
    ToArray = "toarray"/0 V,
    Gamma = "gamma"/0 V,
    Lgamma = "lgamma"/0 V,
    Tgamma = "tgamma"/0 V,
    LgammaR = "lgamma_r"/0 V,
    J0 = "j0"/0 V,
    J1 = "j1"/0 V,
    Y0 = "y0"/0 V,
    Y1 = "y1"/0 V,
    Erf = "erf"/0 V,
    Erfc = "erfc"/0 V,
    Pow10 = "pow10"/0 V,
    // Value arguments.
    Has = "has"/1 V,
    Contains = "contains"/1 V,
    StartsWith = "startswith"/1 V,
    EndsWith = "endswith"/1 V,
    LtrimStr = "ltrimstr"/1 V,
    RtrimStr = "rtrimstr"/1 V,
    Split = "split"/1 V,
    Join = "join"/1 V,
    Indices = "indices"/1 V,
    Index = "index"/1 V,
    Rindex = "rindex"/1 V,
    GetPath = "getpath"/1 V,
    DelPaths = "delpaths"/1 V,
    FlattenDepth = "flatten"/1 V,
    Error1 = "error"/1 V,
    Strftime = "strftime"/1 V,
    Strflocaltime = "strflocaltime"/1 V,
    Strptime = "strptime"/1 V,
    FormatNamed = "format"/1 V,
    Ldexp = "ldexp"/2 C,
    Scalb = "scalb"/2 C,
    Scalbln = "scalbln"/2 C,
    Pow = "pow"/2 C,
    Atan2 = "atan2"/2 C,
    Fmin = "fmin"/2 C,
    Fmax = "fmax"/2 C,
    Fmod = "fmod"/2 C,
    Hypot = "hypot"/2 C,
    Copysign = "copysign"/2 C,
    Drem = "drem"/2 C,
    Nextafter = "nextafter"/2 C,
    Nexttoward = "nexttoward"/2 C,
    Fma = "fma"/3 C,
    Fdim = "fdim"/2 C,
    Remainder = "remainder"/2 C,
    Jn = "jn"/2 C,
    Yn = "yn"/2 C,
    Bsearch = "bsearch"/1 V,
    SetPath = "setpath"/2 C,
    Range1 = "range"/1 V,
    Range2 = "range"/2 V,
    Range3 = "range"/3 V,
    // Regexes: the pattern and flags are values (the pattern is compiled
    // at load time when it is a literal).
    Test = "test"/2 V,
    Match = "match"/2 V,
    Split2 = "split"/2 V,
    Sub = "sub"/3 Args::Sub,
    // Type selectors: the input if it is of the type, else nothing (jq
    // writes them as `select(type == "string")`; natively they cost one
    // step on every value of a recursive search).
    Values = "values"/0 F,
    Nulls = "nulls"/0 F,
    Booleans = "booleans"/0 F,
    Numbers = "numbers"/0 F,
    Strings = "strings"/0 F,
    Arrays = "arrays"/0 F,
    Objects = "objects"/0 F,
    Iterables = "iterables"/0 F,
    Scalars = "scalars"/0 F,
    // Filter arguments.
    Path = "path"/1 F,
    SortBy = "sort_by"/1 F,
    GroupBy = "group_by"/1 F,
    UniqueBy = "unique_by"/1 F,
    MinBy = "min_by"/1 F,
    MaxBy = "max_by"/1 F,
    First = "first"/1 F,
    Last = "last"/1 F,
    IsEmpty = "isempty"/1 F,
    Repeat = "repeat"/1 F,
    Walk = "walk"/1 F,
    FromStream = "fromstream"/1 F,
    Any2 = "any"/2 F,
    All2 = "all"/2 F,
    Until = "until"/2 F,
    While = "while"/2 F,
    Limit = "limit"/2 Args::ValueThenFilter,
    Nth = "nth"/2 Args::ValueThenFilter,
}

/// Builtins a rule may not use, and why. They are refused at load time
/// with this message, so a rule can never stop the process, wait for
/// input or read the environment by name.
pub const REFUSED: &[(&str, &str)] = &[
    ("halt", "would stop the whole scan"),
    ("halt_error", "would stop the whole scan"),
    ("input", "reads further input, which a rule does not have"),
    ("inputs", "reads further input, which a rule does not have"),
    (
        "input_line_number",
        "refers to input lines, which a rule does not have",
    ),
    (
        "get_search_list",
        "refers to modules, which rules cannot use",
    ),
    ("modulemeta", "refers to modules, which rules cannot use"),
    (
        "get_prog_origin",
        "refers to modules, which rules cannot use",
    ),
    ("get_jq_origin", "refers to modules, which rules cannot use"),
    (
        "$__prog_args",
        "refers to command-line arguments, which a rule does not have",
    ),
];

/// Every name a rule can call, with its arities: natives and prelude
/// definitions (for "did you mean" suggestions and `builtins`).
pub fn known_names() -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Builtin::ALL
        .iter()
        .map(|b| (b.name().to_string(), b.arity()))
        .collect();
    for line in PRELUDE.lines() {
        let line = line.trim_start();
        let Some(rest) = line.strip_prefix("def ") else {
            continue;
        };
        let head = rest.split(':').next().unwrap_or("");
        let (name, arity) = match head.split_once('(') {
            Some((n, params)) => (n.trim(), params.split(';').count()),
            None => (head.trim(), 0),
        };
        out.push((name.to_string(), arity));
    }
    for (n, a) in [
        ("select", 1),
        ("empty", 0),
        ("recurse", 1),
        ("recurse", 2),
        ("env", 0),
        ("input_filename", 0),
        ("true", 0),
        ("false", 0),
        ("null", 0),
        ("debug", 0),
        ("debug", 1),
        ("stderr", 0),
        ("builtins", 0),
    ] {
        out.push((n.to_string(), a));
    }
    out.sort();
    out.dedup();
    out
}

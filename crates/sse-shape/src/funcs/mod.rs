//! The functions a template may call, by name: Go's builtins, sprig's, ESO's and ours. Each one is pure, checks
//! the budget before a large allocation, and reports failures without the values involved. The names that
//! exist elsewhere but not here are refused when parsing, each with its reason.

mod builtins;
mod data;
mod encode;
mod json;
mod pem;
mod printf;
mod strings;
mod text;

use crate::limits::{Budget, Exhausted};
use crate::template::value::Value;

/// A parameter's type, as Go checks it when calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum P {
    /// `interface{}`.
    Any,
    Str,
    Int,
    Bool,
    /// `map[string]interface{}` (sprig's `get`, `hasKey`, `keys`).
    Map,
}

impl P {
    pub(crate) fn name(self) -> &'static str {
        match self {
            P::Any => "any value",
            P::Str => "string",
            P::Int => "int",
            P::Bool => "bool",
            P::Map => "map",
        }
    }
}

/// A function's failure: a message naming no value, or an exhausted budget.
pub(crate) enum Fail {
    Msg(String),
    Limit(Exhausted),
}

impl From<Exhausted> for Fail {
    fn from(e: Exhausted) -> Self {
        Fail::Limit(e)
    }
}

pub(crate) fn fail<T>(what: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::Msg(what.into()))
}

/// What a function sees of the render.
pub(crate) struct Cx<'a> {
    pub(crate) budget: &'a mut Budget,
}

impl Cx<'_> {
    /// Refuses unless `n` bytes fit (the result is charged once made).
    pub(crate) fn check(&self, n: usize) -> Result<(), Fail> {
        Ok(self.budget.check(n as u64)?)
    }

    /// Takes `n` bytes that the result will not show at its top level (nested values).
    pub(crate) fn charge(&mut self, n: usize) -> Result<(), Fail> {
        Ok(self.budget.charge(n as u64)?)
    }
}

pub(crate) type Impl = fn(&mut Cx<'_>, Vec<Value>) -> Result<Value, Fail>;

pub(crate) enum Imp {
    /// `and` and `or` evaluate their arguments lazily.
    And,
    Or,
    Call(Impl),
}

/// One function.
pub(crate) struct Func {
    pub(crate) name: &'static str,
    pub(crate) params: &'static [P],
    /// The type of further arguments, when it takes any number of them.
    pub(crate) variadic: Option<P>,
    pub(crate) imp: Imp,
    /// Whether its result is new (charged to the budget) rather than one of its arguments.
    pub(crate) fresh: bool,
}

pub(crate) const fn f(name: &'static str, params: &'static [P], variadic: Option<P>, imp: Impl) -> Func {
    Func {
        name,
        params,
        variadic,
        imp: Imp::Call(imp),
        fresh: true,
    }
}

/// A function that returns one of its arguments (nothing new to charge).
pub(crate) const fn pass(name: &'static str, params: &'static [P], variadic: Option<P>, imp: Impl) -> Func {
    Func {
        name,
        params,
        variadic,
        imp: Imp::Call(imp),
        fresh: false,
    }
}

const GROUPS: &[&[Func]] = &[
    builtins::FUNCS,
    strings::FUNCS,
    data::FUNCS,
    encode::FUNCS,
    pem::FUNCS,
];

/// Names that exist in Go, sprig or ESO but not here, and why.
const REFUSED: &[(&[&str], &str)] = &[
    (&["env", "expandenv"], "it reads the environment"),
    (
        &[
            "now",
            "date",
            "dateInZone",
            "date_in_zone",
            "dateModify",
            "date_modify",
            "mustDateModify",
            "must_date_modify",
            "ago",
            "htmlDate",
            "htmlDateInZone",
            "unixEpoch",
            "toDate",
            "mustToDate",
            "duration",
            "durationRound",
        ],
        "its output changes on every render",
    ),
    (
        &[
            "randAlphaNum",
            "randAlpha",
            "randAscii",
            "randNumeric",
            "randBytes",
            "randInt",
            "uuidv4",
            "shuffle",
        ],
        "its output is random",
    ),
    (
        &[
            "htpasswd",
            "bcrypt",
            "genPrivateKey",
            "genCA",
            "genCAWithKey",
            "genSelfSignedCert",
            "genSelfSignedCertWithKey",
            "genSignedCert",
            "genSignedCertWithKey",
            "derivePassword",
            "encryptAES",
            "decryptAES",
            "pemToPkcs12",
            "pemToPkcs12Pass",
            "fullPemToPkcs12",
            "fullPemToPkcs12Pass",
            "pemTruststoreToPKCS12",
            "pemTruststoreToPKCS12Pass",
        ],
        "its output is random (a salt or a key)",
    ),
    (&["getHostByName"], "it reads the network"),
    (
        &["fail", "required"],
        "its message may carry a value into the status",
    ),
    (&["call"], "function values and methods do not exist here"),
    (
        &["html", "js", "urlquery"],
        "it escapes for HTML, JavaScript or URLs, which a Secret's key does not need",
    ),
];

/// Names of sprig and ESO that may come later.
const LATER: &[&str] = &[
    "jwkPublicKeyPem",
    "jwkPrivateKeyPem",
    "rsaDecrypt",
    "certSANs",
    "hexdec",
    "regexMatch",
    "regexFind",
    "regexFindAll",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "regexSplit",
    "regexQuoteMeta",
    "mustRegexMatch",
    "mustRegexFind",
    "mustRegexFindAll",
    "mustRegexReplaceAll",
    "mustRegexReplaceAllLiteral",
    "mustRegexSplit",
    "semver",
    "semverCompare",
    "title",
    "untitle",
    "abbrev",
    "abbrevboth",
    "initials",
    "wrap",
    "wrapWith",
    "plural",
    "snakecase",
    "camelcase",
    "kebabcase",
    "swapcase",
    "sha1sum",
    "sha512sum",
    "adler32sum",
    "atoi",
    "int",
    "int64",
    "float64",
    "seq",
    "until",
    "untilStep",
    "add",
    "add1",
    "sub",
    "div",
    "mod",
    "mul",
    "max",
    "min",
    "biggest",
    "maxf",
    "minf",
    "ceil",
    "floor",
    "round",
    "toDecimal",
    "split",
    "splitn",
    "toStrings",
    "sortAlpha",
    "all",
    "any",
    "compact",
    "mustCompact",
    "mustFromJson",
    "mustToJson",
    "mustToPrettyJson",
    "mustToRawJson",
    "typeOf",
    "typeIs",
    "typeIsLike",
    "kindOf",
    "kindIs",
    "deepEqual",
    "base",
    "dir",
    "clean",
    "ext",
    "isAbs",
    "osBase",
    "osClean",
    "osDir",
    "osExt",
    "osIsAbs",
    "b32enc",
    "b32dec",
    "tuple",
    "set",
    "unset",
    "pluck",
    "pick",
    "omit",
    "values",
    "push",
    "mustAppend",
    "mustPush",
    "prepend",
    "mustPrepend",
    "mustFirst",
    "rest",
    "mustRest",
    "mustLast",
    "initial",
    "mustInitial",
    "reverse",
    "mustReverse",
    "uniq",
    "mustUniq",
    "without",
    "mustWithout",
    "has",
    "mustHas",
    "slice",
    "mustSlice",
    "concat",
    "dig",
    "chunk",
    "mustChunk",
    "urlParse",
    "urlJoin",
    "trimall",
    "shellQuote",
    "squote_all",
    "merge",
    "mergeOverwrite",
    "mustMerge",
    "mustMergeOverwrite",
    "deepCopy",
    "mustDeepCopy",
    "toYamlPretty",
    "fromYamlArray",
    "fromJsonArray",
    "toToml",
];

/// The function named `name`, or why there is none.
pub(crate) fn lookup(name: &str) -> Result<&'static Func, String> {
    if let Some(f) = GROUPS.iter().flat_map(|g| g.iter()).find(|f| f.name == name) {
        return Ok(f);
    }
    if let Some((_, why)) = REFUSED.iter().find(|(names, _)| names.contains(&name)) {
        return Err(format!("function {name:?} is not available: {why}"));
    }
    if LATER.contains(&name) {
        return Err(format!(
            "function {name:?} is not available: it is not offered yet"
        ));
    }
    Err(format!(
        "function {} not defined",
        crate::template::quote_name(name)
    ))
}

/// Every name offered, for documentation and tests.
pub fn names() -> Vec<&'static str> {
    GROUPS.iter().flat_map(|g| g.iter()).map(|f| f.name).collect()
}

#[cfg(test)]
mod tests;

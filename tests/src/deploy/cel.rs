//! CEL in the admission policies: [`parse_cel`] runs a real CEL parser (`cel-parser`), and [`check_cel`]
//! adds a lexical and structural check the parser does not make: tokens, brackets, operator/operand
//! order, root variables known where the expression is evaluated, declared `variables.*`, and `has()`
//! applied to a field selection. Type errors and unknown functions are only caught by an API server.

use std::collections::BTreeSet;

/// A CEL token, as far as the structural check needs it.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Lit,
    Op(&'static str),
    Open(char),
    Close(char),
    Dot,
    Comma,
}

/// Tokens of `s`, or what is lexically wrong with it.
fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
            continue;
        }
        // String and bytes literals, with r/b prefixes and triple quotes.
        let mut j = i;
        let mut raw = false;
        while j < c.len() && j - i < 2 && matches!(c[j], 'r' | 'R' | 'b' | 'B') {
            raw |= matches!(c[j], 'r' | 'R');
            j += 1;
        }
        if j < c.len() && (c[j] == '\'' || c[j] == '"') {
            let q = c[j];
            let triple = c.get(j + 1) == Some(&q) && c.get(j + 2) == Some(&q);
            let mut k = if triple { j + 3 } else { j + 1 };
            loop {
                match c.get(k) {
                    None => return Err("has an unterminated string literal".into()),
                    Some('\\') if !raw => k += 2,
                    Some('\n') if !triple => return Err("has a newline inside a string literal".into()),
                    Some(&x) if x == q => {
                        if !triple {
                            k += 1;
                            break;
                        }
                        if c.get(k + 1) == Some(&q) && c.get(k + 2) == Some(&q) {
                            k += 3;
                            break;
                        }
                        k += 1;
                    }
                    Some(_) => k += 1,
                }
            }
            out.push(Tok::Lit);
            i = k;
            continue;
        }
        if ch.is_ascii_digit() || (ch == '.' && c.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let hex = ch == '0' && matches!(c.get(i + 1), Some('x' | 'X'));
            let mut k = i + 1;
            while k < c.len()
                && (c[k].is_ascii_alphanumeric()
                    || (c[k] == '.' && c.get(k + 1).is_some_and(char::is_ascii_digit))
                    || (!hex && matches!(c[k], '+' | '-') && matches!(c[k - 1], 'e' | 'E')))
            {
                k += 1;
            }
            out.push(Tok::Lit);
            i = k;
            continue;
        }
        if ch.is_alphabetic() || ch == '_' {
            let mut k = i;
            while k < c.len() && (c[k].is_alphanumeric() || c[k] == '_') {
                k += 1;
            }
            let word: String = c[i..k].iter().collect();
            out.push(match word.as_str() {
                "true" | "false" | "null" => Tok::Lit,
                "in" => Tok::Op("in"),
                _ => Tok::Ident(word),
            });
            i = k;
            continue;
        }
        let two: String = c[i..(i + 2).min(c.len())].iter().collect();
        let op2 = ["==", "!=", "<=", ">=", "&&", "||"]
            .into_iter()
            .find(|o| *o == two);
        if let Some(op) = op2 {
            out.push(Tok::Op(op));
            i += 2;
            continue;
        }
        out.push(match ch {
            '<' => Tok::Op("<"),
            '>' => Tok::Op(">"),
            '+' => Tok::Op("+"),
            '-' => Tok::Op("-"),
            '*' => Tok::Op("*"),
            '/' => Tok::Op("/"),
            '%' => Tok::Op("%"),
            '!' => Tok::Op("!"),
            '?' => Tok::Op("?"),
            ':' => Tok::Op(":"),
            '(' | '[' | '{' => Tok::Open(ch),
            ')' | ']' | '}' => Tok::Close(ch),
            '.' => Tok::Dot,
            ',' => Tok::Comma,
            '=' => return Err("has a single `=` (comparison is `==`)".into()),
            '&' => return Err("has a single `&` (logical and is `&&`)".into()),
            '|' => return Err("has a single `|` (logical or is `||`)".into()),
            other => return Err(format!("has an unexpected character {other:?}")),
        });
        i += 1;
    }
    Ok(out)
}

/// Macros that bind a name: `list.all(x, p(x))`.
const MACROS: [&str; 5] = ["all", "exists", "exists_one", "map", "filter"];

/// CEL's type identifiers, known everywhere: `type(x) == list`.
const TYPE_NAMES: [&str; 10] = [
    "bool",
    "bytes",
    "double",
    "int",
    "list",
    "map",
    "null_type",
    "string",
    "type",
    "uint",
];

/// Parse one expression with a real CEL parser. `cel-parser` panics on some malformed inputs instead of
/// returning an error, so a panic counts as a parse failure.
pub fn parse_cel(expr: &str) -> Result<(), String> {
    let owned = expr.to_string();
    match std::panic::catch_unwind(move || {
        cel_parser::Parser::new()
            .parse(&owned)
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    }) {
        Ok(result) => result,
        Err(_) => Err("the parser panicked (malformed expression)".into()),
    }
}

/// Syntax-level check of one CEL expression: tokens, bracket balance, operand/operator order, root
/// identifiers limited to `roots` (plus macro-bound names), `variables.X` limited to `variables`, and
/// `has()` applied to a field selection.
pub fn check_cel(expr: &str, roots: &[&str], variables: &BTreeSet<String>) -> Result<(), String> {
    if expr.trim().is_empty() {
        return Err("is empty".into());
    }
    let toks = lex(expr)?;

    // Operand/operator order and brackets.
    let closing = |open: char| match open {
        '(' => ')',
        '[' => ']',
        _ => '}',
    };
    let mut stack: Vec<char> = Vec::new();
    let mut want_operand = true;
    for (i, t) in toks.iter().enumerate() {
        let prev = i.checked_sub(1).map(|k| &toks[k]);
        if want_operand {
            match t {
                Tok::Lit | Tok::Ident(_) => want_operand = false,
                Tok::Op("!" | "-") => {}
                Tok::Open(o) => stack.push(*o),
                Tok::Close(c) if matches!(prev, Some(Tok::Open(_) | Tok::Comma)) => {
                    if stack.pop().map(closing) != Some(*c) {
                        return Err(format!("has an unbalanced `{c}`"));
                    }
                    if matches!(prev, Some(Tok::Comma)) && *c == ')' {
                        return Err("has a trailing comma in a call".into());
                    }
                    want_operand = false;
                }
                other => return Err(format!("expects an operand at token {i}, found {other:?}")),
            }
        } else {
            match t {
                Tok::Op("!") => return Err(format!("has `!` after an operand at token {i}")),
                Tok::Op(_) => want_operand = true,
                Tok::Dot => {
                    if !matches!(toks.get(i + 1), Some(Tok::Ident(_))) {
                        return Err(format!("has `.` not followed by a name at token {i}"));
                    }
                    want_operand = true;
                }
                Tok::Open('(') => {
                    if !matches!(prev, Some(Tok::Ident(_))) {
                        return Err(format!("calls something that is not a name at token {i}"));
                    }
                    stack.push('(');
                    want_operand = true;
                }
                Tok::Open(o) => {
                    stack.push(*o);
                    want_operand = true;
                }
                Tok::Close(c) => {
                    if stack.pop().map(closing) != Some(*c) {
                        return Err(format!("has an unbalanced `{c}`"));
                    }
                }
                Tok::Comma => {
                    if stack.is_empty() {
                        return Err(format!("has a `,` outside brackets at token {i}"));
                    }
                    want_operand = true;
                }
                other => return Err(format!("expects an operator at token {i}, found {other:?}")),
            }
        }
    }
    if !stack.is_empty() {
        return Err(format!("has unclosed {stack:?}"));
    }
    if want_operand {
        return Err("ends where an operand is expected".into());
    }

    // Names bound by macros: `.all(x, ...)`.
    let mut bound = BTreeSet::new();
    for w in toks.windows(5) {
        if let [Tok::Dot, Tok::Ident(m), Tok::Open('('), Tok::Ident(v), Tok::Comma] = w
            && MACROS.contains(&m.as_str())
        {
            bound.insert(v.clone());
        }
    }
    for (i, t) in toks.iter().enumerate() {
        let Tok::Ident(name) = t else { continue };
        let after_dot = i > 0 && toks[i - 1] == Tok::Dot;
        let is_call = toks.get(i + 1) == Some(&Tok::Open('('));
        if after_dot || is_call {
            continue;
        }
        if !(roots.contains(&name.as_str()) || bound.contains(name) || TYPE_NAMES.contains(&name.as_str())) {
            return Err(format!(
                "uses unknown identifier `{name}` (known here: {roots:?})"
            ));
        }
        if name == "variables" {
            match toks.get(i + 2) {
                Some(Tok::Ident(v)) if toks.get(i + 1) == Some(&Tok::Dot) && variables.contains(v) => {}
                Some(Tok::Ident(v)) => return Err(format!("uses undeclared variables.{v}")),
                _ => return Err("uses `variables` without a member".into()),
            }
        }
    }
    // has() takes a field selection: has(a.b.c).
    for (i, t) in toks.iter().enumerate() {
        if *t == Tok::Ident("has".into())
            && toks.get(i + 1) == Some(&Tok::Open('('))
            && (i == 0 || toks[i - 1] != Tok::Dot)
        {
            let end = toks[i + 2..]
                .iter()
                .position(|t| *t == Tok::Close(')'))
                .map(|k| i + 2 + k);
            let arg = end.map(|e| &toks[i + 2..e]).unwrap_or_default();
            let selection = arg.len() >= 3
                && arg.iter().enumerate().all(|(k, t)| {
                    if k % 2 == 0 {
                        matches!(t, Tok::Ident(_))
                    } else {
                        *t == Tok::Dot
                    }
                })
                && !arg.len().is_multiple_of(2);
            if !selection {
                return Err("has() must be applied to a field selection like has(a.b)".into());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cel_check_accepts_the_policy_idioms_and_rejects_common_mistakes() {
        let roots = ["object", "oldObject", "request", "params", "variables"];
        let vars: BTreeSet<String> = ["allowed".to_string()].into();
        let good = [
            "request.userInfo.username == 'system:serviceaccount:ns:sa'",
            "has(object.metadata.ownerReferences) && size(object.metadata.ownerReferences) == 1 && \
             object.metadata.ownerReferences.all(o, o.kind == 'SecretSync' && o.apiVersion.startsWith('x/'))",
            "has(params.data) && 'k' in params.data ? params.data['k'].split(',').map(a, a.trim()).filter(a, a != '') : []",
            "variables.allowed && !(object.type in ['Opaque', \"kubernetes.io/tls\"])",
            "'a ' + request.operation + ' b' + string(object.spec.expirationSeconds)",
            "object.spec.audiences[0] in ['x'] && -1 < 2 && {'k': 1}['k'] == 1 && r'\\d' != b\"x\"",
            "has(params.spec.names) && type(params.spec.names) == list ? params.spec.names : []",
        ];
        for e in good {
            assert_eq!(check_cel(e, &roots, &vars), Ok(()), "{e}");
        }
        let bad = [
            ("", "empty"),
            ("object.type = 'Opaque'", "single `=`"),
            ("object.type == 'Opaque", "unterminated"),
            ("size(object.data == 1", "unclosed"),
            ("object.type == 'a')", "unbalanced"),
            ("objet.type == 'Opaque'", "unknown identifier"),
            ("variables.nope", "undeclared"),
            ("object.type 'Opaque'", "operator"),
            ("object.type ==", "ends where an operand"),
            ("has(object['x'])", "has()"),
            ("object.type == 'a' & true", "single `&`"),
        ];
        for (e, want) in bad {
            let err = check_cel(e, &["object", "variables", "a"], &vars).expect_err(e);
            assert!(
                err.contains(want),
                "{e:?}: expected an error about {want:?}, got {err:?}"
            );
        }
    }

    #[test]
    fn the_cel_parser_accepts_policy_idioms_and_rejects_malformed_expressions() {
        for ok in [
            "has(object.metadata.ownerReferences) && size(object.metadata.ownerReferences) == 1",
            "object.type in ['Opaque', 'kubernetes.io/tls']",
            "request.userInfo.username == 'system:serviceaccount:azure-secret-store:secrets-store-sync-controller-manager'",
        ] {
            assert_eq!(parse_cel(ok), Ok(()), "{ok}");
        }
        for bad in ["a ==", "'x", "object.type in [", "(a && b"] {
            assert!(parse_cel(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn the_lexer_reads_cel_literals() {
        for lit in [
            r#""a\"b""#,
            "'''multi\nline'''",
            r"r'\d+'",
            "b'bytes'",
            "0x1F",
            "1.5e-3",
            ".5",
            "42u",
            "null",
        ] {
            assert_eq!(lex(lit), Ok(vec![Tok::Lit]), "{lit:?}");
        }
        assert_eq!(
            lex("a.b(c, [1]) != {}"),
            Ok(vec![
                Tok::Ident("a".into()),
                Tok::Dot,
                Tok::Ident("b".into()),
                Tok::Open('('),
                Tok::Ident("c".into()),
                Tok::Comma,
                Tok::Open('['),
                Tok::Lit,
                Tok::Close(']'),
                Tok::Close(')'),
                Tok::Op("!="),
                Tok::Open('{'),
                Tok::Close('}'),
            ])
        );
    }

    #[test]
    fn cel_check_names_each_structural_mistake() {
        let vars = BTreeSet::new();
        let roots = ["object", "variables"];
        for (e, want) in [
            ("'a\nb' == object.x", "newline"),
            ("object.x | true", "single `|`"),
            ("object.x == #", "unexpected character"),
            ("size(object.x,)", "trailing comma"),
            ("object. == 1", "not followed by a name"),
            ("object.x, 1", "outside brackets"),
            ("'f'(1)", "not a name"),
            ("object.x !object.y", "`!` after an operand"),
            ("variables", "without a member"),
            ("y.all(x, x > 0)", "unknown identifier `y`"),
        ] {
            let err = check_cel(e, &roots, &vars).expect_err(e);
            assert!(err.contains(want), "{e:?}: expected {want:?}, got {err:?}");
        }
        // A macro binds its variable (for the whole expression: the check does not track scopes).
        assert_eq!(check_cel("object.items.exists(i, i.ok)", &roots, &vars), Ok(()));
    }
}

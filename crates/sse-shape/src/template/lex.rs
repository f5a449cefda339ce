//! The lexer: Go's `text/template/parse/lex.go` for the delimiters `{{ }}`, with its trim markers and comments.

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// Text between actions, trim markers already applied.
    Text(String),
    LeftDelim,
    RightDelim,
    Space,
    /// A function name.
    Ident(String),
    Keyword(Keyword),
    /// `.name`, without the dot.
    Field(String),
    /// `$` or `$name`, with the dollar.
    Var(String),
    Dot,
    /// A string constant, unquoted.
    Str(Vec<u8>),
    /// A character constant, as its code point.
    Char(i64),
    /// A number constant, as written.
    Number(String),
    Bool(bool),
    Nil,
    Pipe,
    Declare,
    Assign,
    LeftParen,
    RightParen,
    Comma,
    /// Any other printable ASCII character inside an action (never valid there).
    Other(char),
    Eof,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyword {
    Block,
    Break,
    Continue,
    Define,
    Else,
    End,
    If,
    Range,
    Template,
    With,
}

/// A token and the byte offset it starts at.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) pos: usize,
}

/// A lexing error: where, and what.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LexError {
    pub(crate) pos: usize,
    pub(crate) what: String,
}

const SPACES: &[char] = &[' ', '\t', '\r', '\n'];

fn is_space(c: char) -> bool {
    SPACES.contains(&c)
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

/// `s` starts with ` -}}` (any one space character before the minus).
fn right_trim_at(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 4 && is_space(b[0] as char) && b[1] == b'-' && &b[2..4] == b"}}"
}

/// Lexes a whole template (at most [`crate::limits::MAX_TEXT`] bytes, so the token list stays small).
pub(crate) fn lex(input: &str) -> Result<Vec<Token>, LexError> {
    let mut lx = Lexer {
        input,
        pos: 0,
        out: Vec::new(),
        paren_depth: 0,
    };
    lx.run()?;
    Ok(lx.out)
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    out: Vec<Token>,
    paren_depth: usize,
}

impl<'a> Lexer<'a> {
    fn emit(&mut self, tok: Tok, pos: usize) {
        self.out.push(Token { tok, pos });
    }

    fn fail<T>(&self, pos: usize, what: impl Into<String>) -> Result<T, LexError> {
        Err(LexError {
            pos,
            what: what.into(),
        })
    }

    fn rest(&self) -> &str {
        &self.input[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn run(&mut self) -> Result<(), LexError> {
        let mut trim_next = false;
        loop {
            if trim_next {
                let r = self.rest();
                self.pos += r.len() - r.trim_start_matches(SPACES).len();
            }
            let start = self.pos;
            let open = self.rest().find("{{").map(|i| i + self.pos);
            let end = open.unwrap_or(self.input.len());
            let after = open.map(|o| &self.input[o + 2..]).unwrap_or("");
            let trim_left = after.starts_with('-') && after[1..].starts_with(SPACES);
            let mut text = &self.input[start..end];
            if trim_left {
                text = text.trim_end_matches(SPACES);
            }
            if !text.is_empty() {
                self.emit(Tok::Text(text.to_owned()), start);
            }
            let Some(open) = open else {
                self.emit(Tok::Eof, self.input.len());
                return Ok(());
            };
            self.pos = open + 2 + if trim_left { 2 } else { 0 };
            trim_next = if self.rest().starts_with("/*") {
                self.comment(open)?
            } else {
                self.emit(Tok::LeftDelim, open);
                self.action()?
            };
        }
    }

    /// A comment `/* … */`, ending right at the closing delimiter. Returns whether it trims what follows.
    fn comment(&mut self, open: usize) -> Result<bool, LexError> {
        let Some(close) = self.rest()[2..].find("*/") else {
            return self.fail(open, "unclosed comment");
        };
        self.pos += 2 + close + 2;
        if right_trim_at(self.rest()) {
            self.pos += 4;
            Ok(true)
        } else if self.rest().starts_with("}}") {
            self.pos += 2;
            Ok(false)
        } else {
            self.fail(open, "comment ends before closing delimiter")
        }
    }

    /// The inside of an action, through its closing delimiter. Returns whether it trims what follows.
    fn action(&mut self) -> Result<bool, LexError> {
        loop {
            let at = self.pos;
            let rest = self.rest();
            let trim = right_trim_at(rest);
            if trim || rest.starts_with("}}") {
                if self.paren_depth > 0 {
                    return self.fail(at, "unclosed left paren");
                }
                self.pos += if trim { 4 } else { 2 };
                self.emit(Tok::RightDelim, if trim { at + 2 } else { at });
                return Ok(trim);
            }
            let Some(c) = self.peek() else {
                return self.fail(at, "unclosed action");
            };
            self.pos += c.len_utf8();
            match c {
                c if is_space(c) => {
                    let n = self.rest().len() - self.rest().trim_start_matches(SPACES).len();
                    self.pos += n;
                    if right_trim_at(&self.input[self.pos - 1..]) {
                        self.pos -= 1;
                        if n == 0 {
                            continue;
                        }
                    }
                    self.emit(Tok::Space, at);
                }
                '=' => self.emit(Tok::Assign, at),
                ':' => {
                    if self.peek() != Some('=') {
                        return self.fail(at, "expected :=");
                    }
                    self.pos += 1;
                    self.emit(Tok::Declare, at);
                }
                '|' => self.emit(Tok::Pipe, at),
                '"' => self.quote(at)?,
                '`' => {
                    let Some(end) = self.rest().find('`') else {
                        return self.fail(at, "unterminated raw quoted string");
                    };
                    let raw: Vec<u8> = self.rest()[..end].bytes().filter(|&b| b != b'\r').collect();
                    self.pos += end + 1;
                    self.emit(Tok::Str(raw), at);
                }
                '$' => {
                    let name = self.alnum_run();
                    self.terminator(at)?;
                    self.emit(Tok::Var(format!("${name}")), at);
                }
                '\'' => self.char_constant(at)?,
                '.' if !self.peek().is_some_and(|c| c.is_ascii_digit()) => {
                    let name = self.alnum_run();
                    if name.is_empty() {
                        self.terminator(at)?;
                        self.emit(Tok::Dot, at);
                    } else {
                        self.terminator(at)?;
                        self.emit(Tok::Field(name), at);
                    }
                }
                '.' | '+' | '-' | '0'..='9' => {
                    self.pos = at;
                    self.number()?;
                }
                c if is_alnum(c) => {
                    self.pos = at;
                    let word = self.alnum_run();
                    self.terminator(at)?;
                    let tok = match word.as_str() {
                        "block" => Tok::Keyword(Keyword::Block),
                        "break" => Tok::Keyword(Keyword::Break),
                        "continue" => Tok::Keyword(Keyword::Continue),
                        "define" => Tok::Keyword(Keyword::Define),
                        "else" => Tok::Keyword(Keyword::Else),
                        "end" => Tok::Keyword(Keyword::End),
                        "if" => Tok::Keyword(Keyword::If),
                        "range" => Tok::Keyword(Keyword::Range),
                        "template" => Tok::Keyword(Keyword::Template),
                        "with" => Tok::Keyword(Keyword::With),
                        "nil" => Tok::Nil,
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        _ => Tok::Ident(word),
                    };
                    self.emit(tok, at);
                }
                '(' => {
                    self.paren_depth += 1;
                    self.emit(Tok::LeftParen, at);
                }
                ')' => {
                    if self.paren_depth == 0 {
                        return self.fail(at, "unexpected right paren");
                    }
                    self.paren_depth -= 1;
                    self.emit(Tok::RightParen, at);
                }
                ',' => self.emit(Tok::Comma, at),
                c if c.is_ascii_graphic() => self.emit(Tok::Other(c), at),
                _ => return self.fail(at, "unrecognized character in action"),
            }
        }
    }

    fn alnum_run(&mut self) -> String {
        let r = self.rest();
        let n = r.len() - r.trim_start_matches(is_alnum).len();
        let word = r[..n].to_owned();
        self.pos += n;
        word
    }

    /// What follows a word must end it: space, `.`, `,`, `|`, `:`, a parenthesis or the closing delimiter.
    fn terminator(&self, at: usize) -> Result<(), LexError> {
        match self.peek() {
            None => Ok(()),
            Some(c) if is_space(c) || ".,|:()".contains(c) => Ok(()),
            Some(_) if self.rest().starts_with("}}") => Ok(()),
            Some(_) => self.fail(at, "bad character after a name"),
        }
    }

    /// The body of a constant opened at `at` and closed by `close` on the same line (escapes skipped, not
    /// decoded), the position moved past the closing character.
    fn quoted_body(&mut self, at: usize, close: char, what: &str) -> Result<&'a str, LexError> {
        let input = self.input;
        let body_start = self.pos;
        loop {
            match self.peek() {
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c) if c != '\n' => self.pos += c.len_utf8(),
                        _ => return self.fail(at, format!("unterminated {what}")),
                    }
                }
                None | Some('\n') => return self.fail(at, format!("unterminated {what}")),
                Some(c) if c == close => break,
                Some(c) => self.pos += c.len_utf8(),
            }
        }
        let body = &input[body_start..self.pos];
        self.pos += 1;
        Ok(body)
    }

    fn quote(&mut self, at: usize) -> Result<(), LexError> {
        let body = self.quoted_body(at, '"', "quoted string")?;
        match unquote(body, '"') {
            Some(s) => {
                self.emit(Tok::Str(s), at);
                Ok(())
            }
            None => self.fail(at, "invalid escape in quoted string"),
        }
    }

    fn char_constant(&mut self, at: usize) -> Result<(), LexError> {
        let body = self.quoted_body(at, '\'', "character constant")?;
        match unquote_char(body, '\'') {
            Some((Unquoted::Rune(c), "")) => {
                self.emit(Tok::Char(c as i64), at);
                Ok(())
            }
            Some((Unquoted::Byte(b), "")) => {
                self.emit(Tok::Char(b as i64), at);
                Ok(())
            }
            _ => self.fail(at, "malformed character constant"),
        }
    }

    /// Go's `scanNumber`: the text of a number; its value is read by the parser.
    fn number(&mut self) -> Result<(), LexError> {
        let at = self.pos;
        let b = self.input.as_bytes();
        let mut i = self.pos;
        let accept = |i: &mut usize, set: &str| {
            if *i < b.len() && set.as_bytes().contains(&b[*i]) {
                *i += 1;
                true
            } else {
                false
            }
        };
        let run = |i: &mut usize, set: &str| {
            while *i < b.len() && set.as_bytes().contains(&b[*i]) {
                *i += 1
            }
        };
        accept(&mut i, "+-");
        let mut digits = "0123456789_";
        if accept(&mut i, "0") {
            if accept(&mut i, "xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if accept(&mut i, "oO") {
                digits = "01234567_";
            } else if accept(&mut i, "bB") {
                digits = "01_";
            }
        }
        run(&mut i, digits);
        if accept(&mut i, ".") {
            run(&mut i, digits);
        }
        if digits.len() == 11 && accept(&mut i, "eE") {
            accept(&mut i, "+-");
            run(&mut i, "0123456789_");
        }
        if digits.len() == 23 && accept(&mut i, "pP") {
            accept(&mut i, "+-");
            run(&mut i, "0123456789_");
        }
        accept(&mut i, "i");
        self.pos = i;
        if self.peek().is_some_and(is_alnum) {
            return self.fail(at, "bad number syntax");
        }
        self.emit(Tok::Number(self.input[at..i].to_owned()), at);
        Ok(())
    }
}

pub(crate) enum Unquoted {
    Rune(char),
    Byte(u8),
}

/// Go's `strconv.UnquoteChar`: one character or escape at the start of `s`, and what follows it.
pub(crate) fn unquote_char(s: &str, quote: char) -> Option<(Unquoted, &str)> {
    let mut chars = s.chars();
    let c = chars.next()?;
    if c == quote && quote != '`' {
        return None;
    }
    if c != '\\' {
        return Some((Unquoted::Rune(c), chars.as_str()));
    }
    let e = chars.next()?;
    let rest = chars.as_str();
    let simple = match e {
        'a' => Some('\x07'),
        'b' => Some('\x08'),
        'f' => Some('\x0c'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\x0b'),
        '\\' => Some('\\'),
        '\'' | '"' if e == quote => Some(e),
        _ => None,
    };
    if let Some(c) = simple {
        return Some((Unquoted::Rune(c), rest));
    }
    let hex = |n: usize| -> Option<(u32, &str)> {
        let d = rest.get(..n)?;
        if !d.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some((u32::from_str_radix(d, 16).ok()?, &rest[n..]))
    };
    match e {
        'x' => {
            let (v, r) = hex(2)?;
            Some((Unquoted::Byte(v as u8), r))
        }
        'u' => {
            let (v, r) = hex(4)?;
            Some((Unquoted::Rune(char::from_u32(v)?), r))
        }
        'U' => {
            let (v, r) = hex(8)?;
            Some((Unquoted::Rune(char::from_u32(v)?), r))
        }
        '0'..='7' => {
            let d = s.get(1..4)?;
            if !d.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                return None;
            }
            let v = u32::from_str_radix(d, 8).ok()?;
            if v > 255 {
                return None;
            }
            Some((Unquoted::Byte(v as u8), &s[4..]))
        }
        _ => None,
    }
}

/// Go's `strconv.Unquote` of a double-quoted body: the bytes it stands for.
fn unquote(mut s: &str, quote: char) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    while !s.is_empty() {
        let (u, rest) = unquote_char(s, quote)?;
        match u {
            Unquoted::Rune(c) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            Unquoted::Byte(b) => out.push(b),
        }
        s = rest;
    }
    Some(out)
}

#[cfg(test)]
#[path = "lex_tests.rs"]
mod tests;

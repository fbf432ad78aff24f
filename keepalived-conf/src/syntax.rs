//! Lines of tokens to a tree of statements: `keyword args... [{ statements }]`.
//!
//! A statement ends at the end of its line, at `{` (which opens its block) or at `}`. A `{`
//! at the start of a line opens the block of the statement on the line before, as keepalived
//! allows; `a { b }` on one line is a block holding the statement `b`.

use super::diag::{Diagnostic, Span};
use super::lexer::Token;

/// One statement: its keyword, the words after it, and its block if it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub key: Token,
    pub args: Vec<Token>,
    pub block: Option<Vec<Node>>,
    /// The `{` that opened the block.
    pub open: Option<Span>,
}

impl Node {
    /// The keyword and its arguments (not the block).
    pub fn span(&self) -> Span {
        self.args
            .last()
            .map_or(self.key.span, |a| self.key.span.to(a.span))
    }

    /// The `i`-th argument's text.
    pub fn arg(&self, i: usize) -> Option<&str> {
        self.args.get(i).map(|t| t.text.as_str())
    }
}

struct Frame {
    nodes: Vec<Node>,
    /// Index of the statement owning this block in the parent frame, and its `{`.
    owner: Option<(usize, Span)>,
}

/// Builds the statement tree; unbalanced braces are reported and recovered from.
pub fn build_tree(lines: Vec<Vec<Token>>, diags: &mut Vec<Diagnostic>) -> Vec<Node> {
    let mut stack = vec![Frame {
        nodes: Vec::new(),
        owner: None,
    }];
    // Whether the last statement of the current frame was finished on an earlier line and
    // has no block yet, so that a `{` opening a line belongs to it.
    for line in lines {
        let mut words: Vec<Token> = Vec::new();
        let mut first_on_line = true;
        for tok in line {
            if tok.is_open() {
                let top = stack.last_mut().expect("stack holds the root");
                let idx = if !words.is_empty() {
                    let (key, args) = split_statement(&mut words);
                    top.nodes.push(Node {
                        key,
                        args,
                        block: None,
                        open: None,
                    });
                    Some(top.nodes.len() - 1)
                } else if first_on_line && top.nodes.last().is_some_and(|n| n.block.is_none()) {
                    Some(top.nodes.len() - 1)
                } else {
                    None
                };
                match idx {
                    Some(idx) => {
                        let top = stack.last_mut().expect("root");
                        top.nodes[idx].open = Some(tok.span);
                        top.nodes[idx].block = Some(Vec::new());
                        stack.push(Frame {
                            nodes: Vec::new(),
                            owner: Some((idx, tok.span)),
                        });
                    }
                    None => {
                        diags.push(
                            Diagnostic::error(
                                "block-without-keyword",
                                Some(tok.span),
                                "`{` without a keyword before it",
                            )
                            .with_label("this block belongs to nothing"),
                        );
                        // Read the block anyway so its `}` matches.
                        stack.push(Frame {
                            nodes: Vec::new(),
                            owner: None,
                        });
                    }
                }
            } else if tok.is_close() {
                flush(&mut words, stack.last_mut().expect("root"));
                if stack.len() == 1 {
                    diags.push(
                        Diagnostic::error("unmatched-close", Some(tok.span), "unexpected `}`")
                            .with_label("no block is open here"),
                    );
                } else {
                    close_frame(&mut stack);
                }
            } else {
                words.push(tok);
            }
            first_on_line = false;
        }
        flush(&mut words, stack.last_mut().expect("root"));
    }
    while stack.len() > 1 {
        let open = stack.last().and_then(|f| f.owner.map(|(_, s)| s));
        diags.push(
            Diagnostic::error("unclosed-block", open, "block is never closed")
                .with_label("this `{` has no matching `}`"),
        );
        close_frame(&mut stack);
    }
    stack.pop().map(|f| f.nodes).unwrap_or_default()
}

/// Keyword and arguments of a non-empty statement; `words` is left empty with its buffer
/// kept for the next statement (this runs once per line).
fn split_statement(words: &mut Vec<Token>) -> (Token, Vec<Token>) {
    let args = words.split_off(1);
    let key = words.pop().expect("statement has a keyword");
    (key, args)
}

fn flush(words: &mut Vec<Token>, frame: &mut Frame) {
    if words.is_empty() {
        return;
    }
    let (key, args) = split_statement(words);
    frame.nodes.push(Node {
        key,
        args,
        block: None,
        open: None,
    });
}

fn close_frame(stack: &mut Vec<Frame>) {
    let frame = stack.pop().expect("checked len > 1");
    let parent = stack.last_mut().expect("root stays");
    if let Some((idx, _)) = frame.owner {
        parent.nodes[idx].block = Some(frame.nodes);
    }
}

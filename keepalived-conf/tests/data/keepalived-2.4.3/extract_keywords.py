#!/usr/bin/env python3
"""Extracts every keyword keepalived's configuration parser installs, with its block.

Usage: extract_keywords.py KEEPALIVED_GIT_DIR TAG > keywords.tsv

It reads the parser sources at TAG with `git show` (no work tree needed) and simulates
the keyword-installing functions: `install_keyword_root` starts a top-level block,
`install_keyword*` adds a keyword to the current block, `install_sublevel` opens the
block of the keyword installed last, `install_sublevel_end` closes it, and calls to
other installing functions are followed with their arguments. Every `#if` branch is
taken (a keyword any build accepts is listed); `if` on a known argument is evaluated,
any other `if` has both branches taken. Output: `block<TAB>keyword<TAB>file`, sorted,
unique; the block is `top` for top-level keywords, else the path of enclosing keywords
joined with `/`. The generic language of lib/parser.c (include, @, $, ~SEQ, ~LST) is
listed under the block `language`.
"""
import re
import subprocess
import sys

FILES = [
    "keepalived/core/global_parser.c",
    "keepalived/vrrp/vrrp_parser.c",
    "keepalived/check/check_parser.c",
    "keepalived/check/check_api.c",
    "keepalived/check/check_bfd.c",
    "keepalived/check/check_dns.c",
    "keepalived/check/check_file.c",
    "keepalived/check/check_http.c",
    "keepalived/check/check_misc.c",
    "keepalived/check/check_ping.c",
    "keepalived/check/check_smtp.c",
    "keepalived/check/check_tcp.c",
    "keepalived/check/check_udp.c",
    "keepalived/bfd/bfd_parser.c",
    "keepalived/trackers/track_file.c",
]
ENTRY = [
    "init_global_keywords",
    "init_vrrp_keywords",
    "init_check_keywords",
    "init_bfd_keywords",
    "add_track_file_keywords",
]
INSTALL = re.compile(
    r'\binstall_keyword(?:_quoted|_conditional)?\s*\(\s*("([^"]*)"|(\w+))'
)
ROOT = re.compile(r'\binstall_keyword_root\s*\(\s*"([^"]*)"')
CALL = re.compile(r'^\s*(\w+)\s*\(([^;]*)\)\s*;')
IF = re.compile(r'^\s*(?:else\s+)?if\s*\((.*)\)\s*(\{)?\s*$')


def show(git_dir, tag, path):
    return subprocess.run(
        ["git", "--git-dir", git_dir, "show", f"{tag}:{path}"],
        check=True, capture_output=True, text=True,
    ).stdout


def functions(text, path):
    """name -> (params, body lines, file) of each top-level function."""
    out = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r'^(\w+)\s*\(([^)]*)\)\s*$', lines[i])
        if m and i + 1 < len(lines) and lines[i + 1].startswith("{"):
            name, params = m.group(1), m.group(2)
            j = i + 2
            body = []
            while j < len(lines) and not lines[j].startswith("}"):
                body.append(lines[j])
                j += 1
            names = [p.split()[-1].lstrip("*") for p in params.split(",") if p.strip() not in ("", "void")]
            out[name] = (names, body, path)
            i = j
        i += 1
    return out


def evaluate(cond, env):
    """True, False, or None when the condition does not depend on known arguments."""
    c = cond.strip()
    m = re.fullmatch(r'!\s*strcmp\s*\(\s*(\w+)\s*,\s*"([^"]*)"\s*\)', c)
    if m and m.group(1) in env:
        return env[m.group(1)] == m.group(2)
    if c in env:
        return env[c] not in ("false", "0")
    return None


def run(name, env, funcs, state, out, depth=0):
    params, body, path = funcs[name]
    i = 0
    skip_next = False
    while i < len(body):
        line = body[i]
        code = line.split("//")[0]
        m = IF.match(code)
        if m:
            val = evaluate(m.group(1), env)
            if m.group(2) == "{" or (i + 1 < len(body) and body[i + 1].strip() == "{"):
                # A braced block: skip it when the condition is known false.
                if val is False:
                    level = 0
                    while i < len(body):
                        level += body[i].count("{") - body[i].count("}")
                        i += 1
                        if level == 0 and "{" in "".join(body[:i]):
                            break
                    continue
            elif val is False:
                skip_next = True
            i += 1
            continue
        if skip_next:
            skip_next = False
            i += 1
            continue
        r = ROOT.search(code)
        if r:
            state["stack"] = []
            state["last"] = r.group(1)
            out.add(("top", r.group(1), path))
            state["stack"] = [r.group(1)]
        else:
            k = INSTALL.search(code)
            if k:
                word = k.group(2) if k.group(2) is not None else env.get(k.group(3))
                if word is None:
                    raise SystemExit(f"{path}: cannot resolve keyword in: {line.strip()}")
                out.add(("/".join(state["stack"]) or "top", word, path))
                state["last"] = word
            elif re.search(r'\binstall_sublevel\s*\(', code):
                state["stack"].append(state["last"])
            elif re.search(r'\binstall_sublevel_end\s*\(', code):
                state["stack"].pop()
            else:
                c = CALL.match(code)
                if c and c.group(1) in funcs and c.group(1) != name:
                    args = [a.strip() for a in c.group(2).split(",")] if c.group(2).strip() else []
                    callee_params = funcs[c.group(1)][0]
                    sub_env = {}
                    for p, a in zip(callee_params, args):
                        sub_env[p] = a.strip('"') if a.startswith('"') else env.get(a, a)
                    run(c.group(1), sub_env, funcs, state, out, depth + 1)
        i += 1


def language(git_dir, tag):
    """The preprocessor's words in lib/parser.c."""
    text = show(git_dir, tag, "lib/parser.c")
    out = {("language", "include", "lib/parser.c")}
    m = re.search(r'strchr\("([a-z]+)", buf\[7\]\)', text)
    for ch in m.group(1):
        out.add(("language", "include" + ch, "lib/parser.c"))
    for w in ("@", "@^", "$NAME=", "$NAME", "~SEQ", "~SEQx", "~LST"):
        out.add(("language", w, "lib/parser.c"))
    for d in re.findall(r'add_std_definition\("(\w+)"', text):
        out.add(("language", "$" + d, "lib/parser.c"))
    return out


def main():
    git_dir, tag = sys.argv[1], sys.argv[2]
    funcs = {}
    for f in FILES:
        for name, fn in functions(show(git_dir, tag, f), f).items():
            if any("install_" in l for l in fn[1]):
                funcs[name] = fn
    out = set()
    for e in ENTRY:
        run(e, {}, funcs, {"stack": [], "last": None}, out)
    out |= language(git_dir, tag)
    # One row per (block, keyword): a keyword installed by two files keeps the first.
    seen = {}
    for block, word, path in sorted(out):
        seen.setdefault((block, word), path)
    commit = subprocess.run(
        ["git", "--git-dir", git_dir, "rev-parse", f"{tag}^{{commit}}"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    print(f"# keepalived {tag} ({commit}): every configuration keyword with its block")
    print(f"# extract_keywords.py KEEPALIVED_GIT_DIR {tag} > keywords.tsv; {len(seen)} keywords")
    print("# block\tkeyword\tfile")
    for (block, word), path in sorted(seen.items()):
        print(f"{block}\t{word}\t{path}")


main()

"""dockerfile: reads a Dockerfile into its instructions, for the examples' checks: comments and
blank lines dropped, continued lines joined; stage() gives one build stage's instructions."""
import json


def parse(path):
    """[(INSTRUCTION, arguments)] in order."""
    out, cur = [], ""
    with open(path, encoding="utf-8") as f:
        for raw in f.read().splitlines():
            s = raw.strip()
            if not cur and (not s or s.startswith("#")):
                continue
            cur += s[:-1] + " " if s.endswith("\\") else s
            if not s.endswith("\\"):
                k, _, a = cur.partition(" ")
                out.append((k.upper(), a.strip()))
                cur = ""
    if cur:
        raise AssertionError(path + ": ends inside a continued line")
    return out


def stages(instrs):
    """The build stages, each a list of instructions starting with its FROM."""
    out = []
    for k, a in instrs:
        if k == "FROM":
            out.append([])
        out[-1].append((k, a))
    return out


def exec_form(args):
    """An ENTRYPOINT/CMD in exec (JSON) form as a list; fails on the shell form."""
    v = json.loads(args)
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise AssertionError("not the exec form: " + args)
    return v


def env(args):
    """ENV KEY=VALUE ... (the legacy `ENV KEY VALUE` form too) as a dict."""
    if "=" not in args.split()[0]:
        k, _, v = args.partition(" ")
        return {k: v.strip()}
    return dict(p.split("=", 1) for p in args.split())

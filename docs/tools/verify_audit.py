#!/usr/bin/env python3
"""Verify a Promote audit export offline, with nothing but SHA-256.

An export (GET /api/v1/audit/export, or `promote audit export`) is JSON Lines:
one object per line with the fields seq, prev_hash, hash and body, where body
is the event's canonical JSON as the exact string its hash covers. Each event's
hash is the lower-case hex SHA-256 of

    prev_hash + "\\n" + body

and the first event's prev_hash is 64 zeros. This script checks the export the
way Promote's own verifier (internal/audit, `promote audit verify --export`)
does, line by line in file order, and stops at the first broken link:

  deleted    the sequence number jumps: events are missing
  inserted   a sequence number repeats or goes back, or an event's body names
             a lower number than its line (events inserted, log renumbered)
  reordered  an event's body names a higher number than its line, or its
             prev_hash is not the hash of the line before
  modified   the body no longer hashes to the stored hash, or does not start
             with its sequence number

A chain whose tail was cut off still verifies, and so does one rewritten and
rehashed from some event to the end. Keep the head that a verification prints
(seq and hash) and pass it back later with --head: the export must then
contain that event with that hash.

An export that starts after the first event (`promote audit export --after N`,
or the later part of a longer export) verifies from a head kept for the event
before its first line: give it as --head N:HASH, and the first line must name
HASH as its previous hash. Without one it is broken, as deleted.

The events of the promotion states a gate decides record the metrics it
judged by their digests (metrics.candidate, metrics.baseline). With
--metrics-digest METRICS, the script prints a metrics file's digest, computed
as Promote computes it (`promote audit metrics-digest`): the file read as the
server reads a version's metrics, then SHA-256 of its canonical JSON (see
docs/audit.md, "Were these the metrics judged?"). It reads JSON; for a YAML
metrics file, use promote audit metrics-digest.

Usage:
  verify_audit.py [-o table|json] [--head SEQ:HASH]... FILE    (FILE may be -)
  verify_audit.py [-o table|json] --metrics-digest METRICS...

Exit status: 0 the chain holds, 1 it is broken (or a --head does not match),
2 the file cannot be read or a line is not a valid export line (or a metrics
file cannot be read or is not one Promote accepts).

Standard library only; Python 3.8 or newer.
"""

import argparse
import codecs
import hashlib
import json
import math
import re
import sys

GENESIS_HASH = "0" * 64

# Promote reads exports with a 16 MiB line buffer: a line and its newline may
# be at most this long (a last line without a newline, one byte less).
MAX_LINE = 16 << 20

# The white space that makes a line blank: Go's unicode.IsSpace.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_JSON_SPACE = " \t\r\n"
_SURROGATE = re.compile("[\ud800-\udfff]")

FIELDS = ("seq", "prev_hash", "hash", "body")
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


def _replace_per_byte(err):
    # Like Go: each byte that is not valid UTF-8 becomes one U+FFFD.
    return "\ufffd", err.start + 1


codecs.register_error("verify_audit.per_byte", _replace_per_byte)


def _utf8(data):
    return data.decode("utf-8", "verify_audit.per_byte")


class BadInput(Exception):
    """A line that is not a valid export line: the export cannot be judged."""


def _fold(key):
    # Go's encoding/json matches object keys to fields case-insensitively, by
    # simple Unicode case folding: ASCII case, plus the two non-ASCII letters
    # that fold to ASCII ones, the long s (U+017F) and the Kelvin sign (U+212A).
    out = []
    for c in key:
        if c < "\x80":
            out.append(c.upper())
        elif c == "\u017f":
            out.append("S")
        elif c == "\u212a":
            out.append("K")
        else:
            out.append(c)
    return "".join(out)


_FIELD_BY_FOLD = {f.upper(): f for f in FIELDS}


def _reject_constant(name):
    raise ValueError("invalid JSON value %s" % name)


_DECODER = json.JSONDecoder(object_pairs_hook=lambda pairs: pairs, parse_constant=_reject_constant)


def parse_line(text):
    """Decode one export line as Promote does: unknown fields are errors, keys
    match case-insensitively, a later duplicate wins, a missing or null field
    is its zero value, and anything but white space after the JSON value is
    an error: an export line is one object."""
    i = 0
    while i < len(text) and text[i] in _JSON_SPACE:
        i += 1
    try:
        value, end = _DECODER.raw_decode(text, i)
    except (ValueError, RecursionError) as e:
        raise BadInput("not JSON: %s" % e) from None
    if text[end:].strip(_JSON_SPACE):
        raise BadInput("more after the event's JSON object: an export line is one object")
    rec = {"seq": 0, "prev_hash": "", "hash": "", "body": ""}
    if value is None:  # null decodes to nothing, as in Go
        return rec
    if text[i] != "{":
        raise BadInput("want a JSON object with seq, prev_hash, hash and body")
    problems = []
    for key, v in value:
        field = _FIELD_BY_FOLD.get(_fold(_SURROGATE.sub("\ufffd", key)))
        if field is None:
            problems.append("unknown field %s" % json.dumps(key, ensure_ascii=False))
            continue
        if v is None:
            continue
        if field == "seq":
            if isinstance(v, bool) or not isinstance(v, int) or not INT64_MIN <= v <= INT64_MAX:
                problems.append("seq: want a whole number, got %s" % _describe(v))
                continue
        elif not isinstance(v, str):
            problems.append("%s: want a string, got %s" % (field, _describe(v)))
            continue
        else:
            v = _SURROGATE.sub("\ufffd", v)
        rec[field] = v
    if problems:
        raise BadInput("; ".join(problems))
    return rec


def _describe(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "the number %r" % v
    if isinstance(v, str):
        return "a string"
    return "an object or a list"


def chain_hash(prev_hash, body):
    """The hash of an event: hex SHA-256 of prev_hash, a newline, the body."""
    h = hashlib.sha256()
    h.update(prev_hash)
    h.update(b"\n")
    h.update(body)
    return h.hexdigest()


def _int64(n):
    # Go's int64 arithmetic wraps around.
    return (n + (1 << 63)) % (1 << 64) - (1 << 63)


_BODY_SEQ = re.compile(rb"[+-]?[0-9]+")


def _body_seq(body):
    """The sequence number a body starts with ({"seq":N,), or None."""
    if not body.startswith(b'{"seq":'):
        return None
    rest = body[len(b'{"seq":'):]
    end = rest.find(b",")
    if end < 0 or not _BODY_SEQ.fullmatch(rest[:end]):
        return None
    n = int(rest[:end])
    return n if INT64_MIN <= n <= INT64_MAX else None


def _short(h):
    b = h.encode("utf-8")
    if len(b) > 12:
        return _utf8(b[:12]) + "\u2026"
    return h


class Verifier:
    """Checks records one at a time, in file order, like Promote's verifier."""

    def __init__(self, after=0, after_hash=GENESIS_HASH):
        # after, after_hash: the kept head an export that starts after the
        # first event continues (0 and 64 zeros for a whole chain).
        self.after = after
        self.prev = after_hash
        self.next = after + 1
        self.events = 0
        self.broken = None
        self.hashes = {}  # seq -> hash of every event that verified

    def add(self, seq, prev_hash, hash_, body):
        if self.broken is not None:
            return False
        self.events += 1

        def brk(kind, message):
            self.broken = {"seq": seq, "kind": kind, "message": message}
            return False

        if seq > self.next:
            if seq == self.next + 1:
                return brk("deleted", "event %d is missing, a gap in the sequence: the log goes from %d to %d" % (self.next, self.next - 1, seq))
            return brk("deleted", "events %d to %d are missing, a gap in the sequence: the log goes from %d to %d"
                       % (self.next, seq - 1, self.next - 1, seq))
        if seq < self.next:
            return brk("inserted", "event %d appears after event %d: an event was inserted or duplicated" % (seq, self.next - 1))
        body_bytes = body.encode("utf-8")
        if not body_bytes.startswith(b'{"seq":%d,' % seq):
            said = _body_seq(body_bytes)
            if said is None:
                return brk("modified", "event %d was modified: its body does not start with its sequence number" % seq)
            if said < seq:
                return brk("inserted", "event %d's body says it is event %d: %d event(s) were inserted before it and the log renumbered"
                           % (seq, said, _int64(seq - said)))
            return brk("reordered", "event %d's body says it is event %d: events were reordered, or removed and the log renumbered"
                       % (seq, said))
        got = chain_hash(prev_hash.encode("utf-8"), body_bytes)
        if got != hash_:
            # The hash covers the previous hash too: if the body hashes to the
            # stored hash on the previous event's, the stored previous hash
            # was edited, not the body.
            if prev_hash != self.prev and chain_hash(self.prev.encode("utf-8"), body_bytes) == hash_:
                return brk("modified", "event %d's previous-hash link was edited: it names %s as the previous hash, "
                           "but its hash was made on event %d's hash, %s, and its body matches it"
                           % (seq, _short(prev_hash), seq - 1, _short(self.prev)))
            return brk("modified", "event %d was modified: its body does not match its hash: the stored hash is %s, but the event hashes to %s"
                       % (seq, _short(hash_), _short(got)))
        if prev_hash != self.prev:
            return brk("reordered", "event %d's previous-hash link is broken: it names %s as the previous hash, but event %d's hash is %s "
                       "(an event before it was modified, inserted or removed)"
                       % (seq, _short(prev_hash), seq - 1, _short(self.prev)))
        self.prev, self.next = hash_, seq + 1
        self.hashes[seq] = hash_
        return True

    def result(self):
        r = {"ok": self.broken is None, "events": self.events}
        if self.broken is not None:
            r["broken"] = self.broken
        r["head_seq"] = self.next - 1
        r["head_hash"] = self.prev
        if self.after:
            r["after"] = self.after
        return r


def _export_verifier(first, heads):
    """The verifier of an export whose first line is event first: one that
    continues the head kept for event first-1, if there is one, else one
    that expects event 1. Returns it with the heads left to check."""
    anchor = None
    for seq, h in heads:
        if first > 1 and seq == first - 1:
            if anchor is not None and anchor != h:
                raise BadInput("the heads you kept for event %d disagree: %s and %s" % (seq, _short(anchor), _short(h)))
            anchor = h
    if anchor is None:
        return Verifier(), list(heads)
    rest = []
    for seq, h in heads:
        if seq < first - 1:
            raise BadInput("head %d:%s: the export starts after event %d, so it cannot show event %d: check that head against an export that holds it"
                           % (seq, _short(h), first - 1, seq))
        if seq > first - 1:
            rest.append((seq, h))
    return Verifier(first - 1, anchor), rest


def verify_export(stream, heads=()):
    """Verify an export read from a binary stream, given the kept heads;
    returns the verifier, the heads it has left to check, and the first
    line's record (None for an empty export). Raises BadInput naming the
    line when a line cannot be read."""
    v, rest, first = None, list(heads), None
    line_no = 0
    while True:
        raw = stream.readline(MAX_LINE + 1)
        if not raw:
            break
        line_no += 1
        if raw.endswith(b"\n"):
            if len(raw) > MAX_LINE:
                raise BadInput("line %d: longer than %d bytes" % (line_no, MAX_LINE))
            raw = raw[:-1]
        elif len(raw) >= MAX_LINE:
            raise BadInput("line %d: longer than %d bytes" % (line_no, MAX_LINE))
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        text = _utf8(raw)
        if not text.strip(_GO_SPACE):
            continue
        try:
            rec = parse_line(text)
        except BadInput as e:
            raise BadInput("line %d: %s" % (line_no, e)) from None
        if v is None:
            v, rest = _export_verifier(rec["seq"], heads)
            first = rec
        if not v.add(rec["seq"], rec["prev_hash"], rec["hash"], rec["body"]):
            break
    if v is None:
        v = Verifier()
    return v, rest, first


# --- The digest of the metrics a gate judged -------------------------------

class BadMetrics(Exception):
    """A metrics file Promote would refuse: it has no digest."""


_METADATA = ("metadata", "params", "tags", "drift")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,127}")
_FAIRNESS = (  # sorted, as Promote derives them
    ("demographic_parity_difference", ("selection_rate",)),
    ("equal_opportunity_difference", ("tpr",)),
    ("equalized_odds_difference", ("tpr", "fpr")),
)


class _Object(list):
    """A JSON object, as its (key, value) pairs in file order."""


def _no_duplicates(pairs):
    seen = set()
    for k, _ in pairs:
        if k in seen:
            raise BadMetrics("key %s repeated" % json.dumps(k, ensure_ascii=False))
        seen.add(k)
    return _Object(pairs)


# Integers are read as floats, as Promote reads every number, so that -0
# stays negative zero.
_METRICS_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_reject_constant, parse_int=float)


def _number(v, what):
    if isinstance(v, bool) or not isinstance(v, float):
        raise BadMetrics("%s: want a number, got %s" % (what, _describe(v)))
    if math.isnan(v) or math.isinf(v):
        raise BadMetrics("%s: %r is not a finite number" % (what, v))
    return v


def _object(v, what):
    if not isinstance(v, _Object):
        raise BadMetrics("%s: want an object, got %s" % (what, _describe(v)))
    return v


def _go_min(a, b):
    # Go's math.Min: -0 is less than 0.
    if a == b == 0:
        return a if math.copysign(1, a) < 0 else b
    return min(a, b)


def _go_max(a, b):
    if a == b == 0:
        return a if math.copysign(1, a) > 0 else b
    return max(a, b)


def _go_pow10(n):
    # Go's math.Pow10: a product (or quotient) of two powers of ten, which
    # for n past 31 is not always the power of ten closest to 10**n.
    if 0 <= n <= 308:
        return float("1e%d" % (n // 32 * 32)) * float("1e%d" % (n % 32))
    if -323 <= n <= 0:
        return float("1e-%d" % (-n // 32 * 32)) / float("1e%d" % (-n % 32))
    return math.inf if n > 0 else 0.0


def _go_round(x):
    # Go's math.Round: half away from zero (Python's round() is half to even).
    t = float(math.trunc(x))
    if abs(x - t) >= 0.5:
        t += math.copysign(1.0, x)
    return math.copysign(t, x)


def _round_sig(x):
    # Promote rounds a derived fairness metric to 12 significant digits. Where
    # this log10 and Go's differ in their last bit, x is within a few parts in
    # 10**15 of a power of ten, and both scales round it to that power.
    if x == 0 or math.isnan(x) or math.isinf(x):
        return x
    exp = math.floor(math.log10(abs(x)))
    scale = _go_pow10(11 - exp)
    if math.isinf(scale) or scale == 0:
        return x
    r = _go_round(x * scale) / scale
    return x if math.isinf(r) or math.isnan(r) else r


def _rate_gap(groups, stat):
    if len(groups) < 2:
        return None
    lo, hi = math.inf, -math.inf
    for name in sorted(groups):
        if stat not in groups[name]:
            return None
        lo, hi = _go_min(lo, groups[name][stat]), _go_max(hi, groups[name][stat])
    return _round_sig(hi - lo)


def parse_metrics(text):
    """Read a metrics file as Promote reads a version's metrics (JSON only):
    top-level numbers and the numbers under "metrics" are metrics, "checks"
    named booleans, "groups" per-group statistics, from which the fairness
    metrics are derived; metadata, params, tags and drift are not evidence.
    Returns (metrics, checks, groups); raises BadMetrics for a file Promote
    refuses."""
    try:
        root = _METRICS_DECODER.decode(text)
    except (ValueError, RecursionError) as e:
        raise BadMetrics("not JSON: %s" % e) from None
    metrics, checks, groups = {}, {}, {}

    def add_metric(name, v, what):
        if not _NAME.fullmatch(name):
            raise BadMetrics("%s: %s is not a valid metric name" % (what, json.dumps(name, ensure_ascii=False)))
        if name.endswith("_delta") or name.endswith("_change"):
            raise BadMetrics("%s: a metric may not end in _delta or _change" % what)
        if name in metrics:
            raise BadMetrics("%s: metric given twice" % what)
        metrics[name] = _number(v, what)

    for key, v in _object(root, "metrics file"):
        if key == "metrics":
            for name, x in _object(v, "metrics"):
                add_metric(name, x, "metrics." + name)
        elif key == "checks":
            for name, x in _object(v, "checks"):
                if not _NAME.fullmatch(name):
                    raise BadMetrics("checks: %s is not a valid check name" % json.dumps(name, ensure_ascii=False))
                if not isinstance(x, bool):
                    raise BadMetrics("checks.%s: want true or false, got %s" % (name, _describe(x)))
                checks[name] = x
        elif key == "groups":
            for group, stats in _object(v, "groups"):
                out = {}
                for stat, x in _object(stats, "groups." + group):
                    what = "groups.%s.%s" % (group, stat)
                    x = _number(x, what)
                    if stat in ("selection_rate", "tpr", "fpr") and not 0 <= x <= 1:
                        raise BadMetrics("%s: %r is not a rate between 0 and 1" % (what, x))
                    if stat == "count" and (x < 0 or x != math.trunc(x)):
                        raise BadMetrics("%s: %r is not a whole number of examples" % (what, x))
                    out[stat] = x
                groups[group] = out
        elif key in _METADATA:
            pass
        elif isinstance(v, bool):
            raise BadMetrics("%s: a boolean at the top level is not a metric; put named booleans under \"checks\"" % key)
        else:
            add_metric(key, v, key)
    for name, stats in _FAIRNESS if groups else ():
        gaps = [_rate_gap(groups, s) for s in stats]
        if None in gaps:
            continue
        derived = gaps[0] if len(gaps) == 1 else _go_max(gaps[0], gaps[1])
        if name in metrics:
            if abs(metrics[name] - derived) > 1e-9:
                raise BadMetrics("%s: the file gives %r but its groups give %r" % (name, metrics[name], derived))
            continue
        metrics[name] = derived
    return metrics, checks, groups


def _go_number(x):
    """x as Go's encoding/json writes a float64: the shortest decimal that
    reads back as x, with an exponent only below 1e-6 and from 1e21 on."""
    if x == 0:
        return "-0" if math.copysign(1, x) < 0 else "0"
    sign = "-" if x < 0 else ""
    mant, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mant.partition(".")
    all_digits = whole + frac
    point = len(whole) + int(exp or 0)  # x = 0.DIGITS * 10**point
    stripped = all_digits.lstrip("0")
    point -= len(all_digits) - len(stripped)
    digits = stripped.rstrip("0")
    if abs(x) < 1e-6 or abs(x) >= 1e21:
        e = point - 1
        out = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return sign + out + ("e-%d" % -e if e < 0 else "e+%02d" % e)
    if point <= 0:
        return sign + "0." + "0" * -point + digits
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return sign + digits[:point] + "." + digits[point:]


_GO_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f",
               "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _go_string(s):
    out = []
    for c in _SURROGATE.sub("\ufffd", s):
        if c in _GO_ESCAPES:
            out.append(_GO_ESCAPES[c])
        elif c < " ":
            out.append("\\u%04x" % ord(c))
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _canonical(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return _go_number(v)
    return "{" + ",".join(_go_string(k) + ":" + _canonical(v[k]) for k in sorted(v)) + "}"


def metrics_digest(metrics, checks, groups):
    """The digest of the metrics a gate judged: "sha256:" and the hex SHA-256
    of {"checks":…,"groups":…,"metrics":…} (checks and groups left out when
    empty), keys sorted, no white space, numbers and strings as Go writes
    them."""
    doc = {"metrics": metrics}
    if checks:
        doc["checks"] = checks
    if groups:
        doc["groups"] = groups
    return "sha256:" + hashlib.sha256(_canonical(doc).encode("utf-8")).hexdigest()


def _metrics_digests(files, output):
    out = []
    for path in files:
        try:
            if path == "-":
                data = sys.stdin.buffer.read()
            else:
                with open(path, "rb") as f:
                    data = f.read()
            out.append({"file": path, "digest": metrics_digest(*parse_metrics(_utf8(data)))})
        except BadMetrics as e:
            print("verify_audit.py: metrics %s: %s" % (path, e), file=sys.stderr)
            return 2
        except OSError as e:
            print("verify_audit.py: metrics: %s" % e, file=sys.stderr)
            return 2
    if output == "json":
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        for d in out:
            print("%s  %s" % (d["digest"], d["file"]))
    return 0


def _parse_head(s):
    seq, sep, h = s.strip().partition(":")
    h = h.lower()  # as promote audit verify --head reads it
    if not sep or not re.fullmatch(r"[0-9]+", seq) or int(seq) < 1 or not re.fullmatch(r"[0-9a-f]{64}", h):
        raise argparse.ArgumentTypeError("want SEQ:HASH, e.g. 42:%s" % ("ab" * 32))
    return int(seq), h


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="verify_audit.py",
        description="Verify a Promote audit export (JSON Lines) offline.",
        epilog="Exit status: 0 intact, 1 broken or --head mismatch, 2 unreadable or malformed input.")
    ap.add_argument("file", metavar="FILE", nargs="?", help="the export file, or - for standard input")
    ap.add_argument("-o", "--output", choices=("table", "json"), default="table",
                    help="table (default) or json: ok, events, broken {seq, kind, message}, head_seq, head_hash")
    ap.add_argument("--head", type=_parse_head, metavar="SEQ:HASH", action="append",
                    help="a head kept from an earlier verification: the export must contain event SEQ with this hash (repeatable)")
    ap.add_argument("--metrics-digest", metavar="METRICS", nargs="+",
                    help="print the digest of each metrics file (JSON), as an event's metrics.candidate and metrics.baseline "
                         "record it, instead of verifying an export")
    args = ap.parse_args(argv)
    if args.metrics_digest:
        if args.file is not None or args.head:
            ap.error("--metrics-digest takes metrics files only, no export and no --head")
        return _metrics_digests(args.metrics_digest, args.output)
    if args.file is None:
        ap.error("the following arguments are required: FILE")

    try:
        if args.file == "-":
            v, heads, first = verify_export(sys.stdin.buffer, args.head or [])
        else:
            with open(args.file, "rb") as f:
                v, heads, first = verify_export(f, args.head or [])
    except BadInput as e:
        print("verify_audit.py: export %s: %s" % (args.file, e), file=sys.stderr)
        return 2
    except OSError as e:
        print("verify_audit.py: %s" % e, file=sys.stderr)
        return 2

    res = v.result()
    b = res.get("broken")
    if b is not None and v.after and b["seq"] == first["seq"] \
            and Verifier(first["seq"] - 1, first["prev_hash"]).add(first["seq"], first["prev_hash"], first["hash"], first["body"]):
        # The first line holds but for its previous hash: it names another
        # event before it than the head kept for it.
        res["broken"] = {"seq": v.after, "kind": "rewritten", "message":
                         "event %d's hash is %s (event %d names it as the previous hash), but the head you kept has %s: "
                         "the export does not continue the chain you kept"
                         % (v.after, _short(first["prev_hash"]), first["seq"], _short(res["head_hash"]))}
    elif b is not None and b["kind"] == "deleted" and not v.after and first is not None and b["seq"] == first["seq"] > 1:
        b["message"] += ("; an export that starts after the first event verifies from a head kept for the event before it: --head %d:HASH"
                         % (first["seq"] - 1))
    for seq, want in heads if res["ok"] else []:
        # Each head in the order given; the first that fails is the break.
        if seq > res["head_seq"]:
            res["broken"] = {"seq": seq, "kind": "truncated", "message":
                             "the head you kept is event %d (hash %s), but the log ends at event %d: events were removed from its end"
                             % (seq, _short(want), res["head_seq"])}
        elif v.hashes.get(seq) != want:
            res["broken"] = {"seq": seq, "kind": "rewritten", "message":
                             "event %d's hash is %s, but the head you kept has %s: the log was rewritten up to event %d"
                             % (seq, _short(v.hashes.get(seq, "")), _short(want), seq)}
        if "broken" in res and first is None and res["broken"]["kind"] == "truncated":
            # An export after the newest event is empty: it shows nothing,
            # and so fails, but not because events were removed from it.
            res["broken"]["message"] = ("the export holds no events, so it cannot show event %d, the head you kept (hash %s): "
                                        "an export after the newest event is empty, and only the store's own verification "
                                        "(promote audit verify --head %d:HASH) can show that nothing was recorded since"
                                        % (seq, _short(want), seq))
        if "broken" in res:  # in Promote's field order: ok, events, broken, head_seq, head_hash
            res["ok"] = False
            res = {k: res[k] for k in ("ok", "events", "broken", "head_seq", "head_hash", "after") if k in res}
            break

    if args.output == "json":
        print(json.dumps(res, ensure_ascii=False, indent=2))
    elif res["ok"] and res.get("after"):
        print("OK: %d events, %d to %d, continuing the head you kept for event %d; the chain is intact"
              % (res["events"], res["after"] + 1, res["head_seq"], res["after"]))
        print("head: seq %d, hash %s" % (res["head_seq"], res["head_hash"]))
    elif res["ok"]:
        print("OK: %d events, the chain is intact" % res["events"])
        print("head: seq %d, hash %s" % (res["head_seq"], res["head_hash"]))
    else:
        b = res["broken"]
        print("BROKEN at event %d (%s): %s" % (b["seq"], b["kind"], b["message"]))
        print("the chain holds up to event %d, hash %s" % (res["head_seq"], res["head_hash"]))
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

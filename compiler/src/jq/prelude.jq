# Tattletail's jq prelude: jq builtins that jaq lacks or defines
# differently, written as jq defines them (jq 1.6/1.7, MIT), so rules
# written for jq/gojq (cloudtrail-tattletail's dialect) keep working.

# SQL-style operators (jq 1.6+).
def IN(s): any(s == .; .);
def IN(src; s): any(src == s; .);
def INDEX(stream; idx_expr): reduce stream as $row ({}; .[$row | idx_expr | tostring] |= $row);
def INDEX(idx_expr): INDEX(.[]; idx_expr);

def ascii: if type == "number" and . >= 0 and . <= 127 then [.] | implode
  else error("ascii only takes integers between 0 and 127") end;

def leaf_paths: paths(scalars);
def tostream: path(def r: (.[]? | r), .; r) as $p | getpath($p) | reduce path(.[]?) as $q ([$p, .]; [$p + $q]);

# jq 1.6/1.7 and gojq return non-string input unchanged.
def ltrimstr($x): if isstring and ($x | isstring) then _tt_ltrimstr($x) else . end;
def rtrimstr($x): if isstring and ($x | isstring) then _tt_rtrimstr($x) else . end;

def @base32d: tostring | _tt_decode_base32;
def @base32: tostring | _tt_encode_base32;

# Rules must not read the process environment (in a Lambda it holds AWS
# credentials): `env` and `$ENV` are empty objects.
def env: {};

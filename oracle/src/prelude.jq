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

# Formats and helpers jq has and jaq lacks.
def @csv: if type != "array" then error("\(type) (\(tojson)) cannot be csv-formatted, only an array can be")
  else map(if type == "string" then "\"" + gsub("\""; "\"\"") + "\""
    elif type == "null" then ""
    elif type == "boolean" or type == "number" then tojson
    else error("\(type) (\(tojson)) is not valid in a csv row") end) | join(",") end;
def @tsv: if type != "array" then error("\(type) (\(tojson)) cannot be tsv-formatted, only an array can be")
  else map(if type == "string" then gsub("\\\\"; "\\\\") | gsub("\t"; "\\t") | gsub("\n"; "\\n") | gsub("\r"; "\\r")
    elif type == "null" then ""
    elif type == "boolean" or type == "number" then tojson
    else error("\(type) (\(tojson)) is not valid in a tsv row") end) | join("\t") end;
def truncate_stream(stream): . as $n | null | stream | . as $input
  | if (.[0] | length) > $n then setpath([0]; .[0][$n:]) else empty end;
def toarray: if type == "array" then . else [.] end;
def trimstr($x): ltrimstr($x) | rtrimstr($x);
def isvalid(f): try (f | true) catch false;
def dateadd(u; n): . + n;
def datesub(u; n): . - n;
def date: todate;
# A rule reads one record, not a file.
def input_filename: null;

# shellcheck shell=sh
# What test/run.sh and test/citus/run.sh do for each suite: run it, show its
# output, keep its runner's summary for the end.  Sourced.

# run_suite HEADING PICK NO_SUMMARY COMMAND...
# Prints "== HEADING", runs COMMAND and prints its output, then appends to
# $NILUS_SUMMARY the summary lines the command PICK (one of the pickers below,
# with its arguments, as one word) reads from that output, or the line
# NO_SUMMARY when it picks none.  A failing COMMAND sets status=1.
run_suite() {
    heading=$1 pick=$2 no_summary=$3
    shift 3
    echo "== $heading"
    output=$(mktemp)
    # shellcheck disable=SC2034 # status: the driver's exit status
    "$@" > "$output" 2>&1 || status=1
    cat "$output"
    # shellcheck disable=SC2086 # PICK is a picker and its arguments
    $pick < "$output" > "$output.summary" || true
    if [ -s "$output.summary" ]; then cat "$output.summary" >> "$NILUS_SUMMARY"
    else echo "$no_summary" >> "$NILUS_SUMMARY"; fi
    rm -f "$output" "$output.summary"
}

# counts [LABEL]: the runner's last `[LABEL: ]N passed, M failed` line (the
# database-native suite prints the HTTP suite's lines before its own).
counts() {
    grep -E "^${1:+$1: }[0-9]+ passed, [0-9]+ failed" | tail -n 1
}

pg_prove_summary() {
    grep -E '^(Files=|Result:)'
}

# pg_regress ends with "All N tests passed." or "M of N tests failed.".
pg_regress_summary() {
    sed -n -e 's/^ *All \([0-9]*\) tests passed.*/\1 passed, 0 failed (make installcheck)/p' \
           -e 's/^ *\([0-9]*\) of \([0-9]*\) tests failed.*/\2 \1/p' |
        awk 'NF == 2 { print $1 - $2 " passed, " $2 " failed (make installcheck)"; next } { print }'
}

# make installcheck, followed by pg_regress's diffs where a test failed.
installcheck_with_diffs() {
    installcheck_status=0
    make -s installcheck || installcheck_status=$?
    if [ -f test/regress/regression.diffs ]; then cat test/regress/regression.diffs; fi
    return $installcheck_status
}

# Shared by the shell tests (sourced): one assertion per `check`, counted, and the closing line
# "N passed, M failed" that ctest-style runners read. A failed check prints its description and
# the tail of $T/last.err (the last command's stderr) when there is one.
passed=0
failed=0
check() {  # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $what" >&2
    [[ -n ${T:-} && -f $T/last.err ]] && sed 's/^/    stderr: /' "$T/last.err" | tail -n 8 >&2
  fi
}
check_summary() {  # the closing line; exit status 0 when nothing failed
  echo "$passed passed, $failed failed"
  [[ $failed -eq 0 ]]
}

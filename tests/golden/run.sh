#!/bin/sh
# run.sh: lathe's golden text tests.
#
#   sh tests/golden/run.sh LATHE_BIN          run them
#   UPDATE=1 sh tests/golden/run.sh LATHE_BIN  rewrite the expected files
#
# Each test is a text file in tests/golden/graph (*.ir, graph IR) or
# tests/golden/tir (*.tir, loop IR).  `LATHE_BIN show FILE` parses, verifies
# (and for graphs infers) and prints it again:
#   FILE = NAME.ir / NAME.tir          must succeed; stdout must equal
#                                       FILE.out (for a canonical input,
#                                       FILE.out equals FILE)
#   FILE = NAME.bad.ir / NAME.bad.tir  must fail (non-zero exit); stderr
#                                       must equal FILE.err
# (NAME.out, NAME.bad.err and NAME.err are accepted as well.)
# tests/golden/passes holds graph IR run through the graph passes: the
# command is `LATHE_BIN show ARGS FILE`, ARGS from the file's first line
# `# args: ...` (default: --after fuse).
# tests/golden/sched holds loop IR with a schedule script: NAME.tir and
# NAME.sched run as `LATHE_BIN show NAME.tir --sched-file NAME.sched`
# (NAME.bad.tir with NAME.bad.sched for schedules that must be refused).
# Commands run inside the test's directory, so diagnostics name the file
# without a path and the expected files do not depend on where lathe lives.
# Prints "golden: N passed, M failed" and exits non-zero if any failed.

if [ $# -ne 1 ]; then
	echo "usage: sh tests/golden/run.sh LATHE_BIN" >&2
	exit 2
fi
case $1 in
/*) lathe=$1 ;;
*) lathe=$(pwd)/$1 ;;
esac
if [ ! -x "$lathe" ]; then
	echo "golden: $1 is not an executable" >&2
	exit 2
fi
root=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lathe-golden.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

pass=0
fail=0

# expected DIR FILE EXT: the expected-output file of a test: FILE.EXT
# (a.ir.out, a.bad.ir.err), or NAME.EXT (a.out, a.bad.err) or, for a bad
# test, the name without ".bad" (a.err) where such a file exists instead.
expected() {
	stem=${2%.*}
	for cand in "$2.$3" "$stem.$3" "${stem%.bad}.$3"; do
		if [ -f "$root/$1/$cand" ]; then
			echo "$root/$1/$cand"
			return
		fi
	done
	echo "$root/$1/$2.$3"
}

# check DIR FILE: runs one test.
check() {
	dir=$1
	file=$2
	case $file in
	*.bad.*) bad=1 ;;
	*) bad=0 ;;
	esac
	args=
	if [ "$dir" = passes ]; then
		args=$(sed -n '1s/^# args: //p' "$root/$dir/$file")
		[ -n "$args" ] || args="--after fuse"
	fi
	[ "$dir" = sched ] && args="--sched-file ${file%.tir}.sched"
	# $args is split into words on purpose.
	(cd "$root/$dir" && "$lathe" show $args "$file" >"$tmp/out" 2>"$tmp/err")
	rc=$?
	if [ $bad = 1 ]; then
		want=$(expected "$dir" "$file" err)
		got="$tmp/err"
		if [ $rc -eq 0 ]; then
			echo "FAIL $dir/$file: succeeded, but should have failed"
			fail=$((fail + 1))
			return
		fi
	else
		want=$(expected "$dir" "$file" out)
		got="$tmp/out"
		if [ $rc -ne 0 ]; then
			echo "FAIL $dir/$file: exit $rc"
			sed 's/^/    /' "$tmp/err"
			fail=$((fail + 1))
			return
		fi
	fi
	if [ -n "$UPDATE" ]; then
		cp "$got" "$want"
		pass=$((pass + 1))
		return
	fi
	if [ ! -f "$want" ]; then
		echo "FAIL $dir/$file: no expected file $dir/$(basename "$want") (UPDATE=1 writes it)"
		fail=$((fail + 1))
		return
	fi
	if diff -u "$want" "$got" >"$tmp/diff"; then
		pass=$((pass + 1))
	else
		echo "FAIL $dir/$file: output differs from $(basename "$want")"
		sed 's/^/    /' "$tmp/diff"
		fail=$((fail + 1))
	fi
}

for dir in graph tir passes sched; do
	[ -d "$root/$dir" ] || continue
	case $dir in
	graph | passes) ext=ir ;;
	tir | sched) ext=tir ;;
	esac
	for path in "$root/$dir"/*."$ext"; do
		[ -f "$path" ] || continue
		check "$dir" "$(basename "$path")"
	done
done

echo "golden: $pass passed, $fail failed"
[ $fail -eq 0 ]

#!/usr/bin/env bash
# Draws the instruction counts that instructions.sh printed as a bar chart:
# per scenario, each variant's instructions as a ratio to no counter.
#
#   test/bench/chart.sh instructions.txt > instructions.svg
#
# Needs gnuplot (Debian: gnuplot-nox).
set -euo pipefail
input=${1:?usage: chart.sh instructions.txt > chart.svg}
data=$(mktemp)
trap 'rm -f "$data"' EXIT

# One row per scenario, one column per variant, in the order they appear.
awk '
	BEGIN {
		name["base"] = "no counter"; name["noop"] = "floor: noop trigger"
		name["plrow"] = "PL/pgSQL row trigger"; name["plstmt"] = "PL/pgSQL transition tables"
		name["cfstmt"] = "counterfield statement"; name["cftx"] = "counterfield transaction"
		name["app"] = "by hand: app"
	}
	/^B[0-9]/ {
		variant = $(NF - 3); ratio = $(NF - 1); sub(/x$/, "", ratio)
		# Scenarios that share a number (B1 over 1,000 parents, into one,
		# each row its own) are told apart by their text: B1a, B1b, ...
		text = $0; sub(/ +[a-z]+ +[0-9]+ +[0-9.]+x +[^ ]+ *$/, "", text)
		if (!(text in label)) {
			n = ++count[$1]
			label[text] = $1 (n > 1 ? sprintf("%c", 96 + n) : "")
			if (n == 2) first[$1] = 1
		}
		id = label[text]
		if (!(id in seen)) { seen[id] = 1; ids[++nids] = id; base[id] = $1 }
		if (!(variant in vseen)) { vseen[variant] = 1; vars[++nvars] = variant }
		r[id, variant] = ratio
	}
	END {
		printf "scenario"
		for (v = 1; v <= nvars; v++) printf " \"%s\"", (vars[v] in name ? name[vars[v]] : vars[v])
		printf "\n"
		for (i = 1; i <= nids; i++) {
			printf "%s", (ids[i] == base[ids[i]] && first[ids[i]] ? ids[i] "a" : ids[i])
			for (v = 1; v <= nvars; v++) {
				x = r[ids[i], vars[v]]
				printf " %s", (x == "" ? "NaN" : x)
			}
			printf "\n"
		}
	}' "$input" > "$data"

ncols=$(sed -n 2p "$data" | wc -w)
gnuplot <<GNUPLOT
set terminal svg size 900,420 font "sans,11" background "white"
set title "Instructions per statement or transaction, ratio to no counter (lower is better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key outside below horizontal maxrows 2 autotitle columnheader
set yrange [0:*]
set grid ytics
set ylabel "ratio to no counter"
set datafile missing "NaN"
plot for [c=2:$ncols] "$data" using c:xtic(1)
GNUPLOT

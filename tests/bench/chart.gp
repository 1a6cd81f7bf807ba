# Chart of the loopns fio ratios (tests/bench/report.py writes the data).
#   gnuplot -e "datafile='chart.dat'; varsfile='chart.vars'; outfile='chart.png'" chart.gp
# One panel per kernel; per workload two bars: loopns/loop and loopns/raw,
# on a log2 scale around parity (bars up: loopns faster).
load varsfile

set terminal pngcairo size 1800, (560 * nk) font "sans,10"
set output outfile
set multiplot layout nk, 1
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set xtics rotate by 60 right font "sans,8" nomirror
set ylabel "ratio (log scale)"
set ytics ("1/256x" -8, "1/128x" -7, "1/64x" -6, "1/32x" -5, "1/16x" -4, "1/8x" -3, "1/4x" -2, "1/2x" -1, "1x" 0, \
	"2x" 1, "4x" 2, "8x" 3, "16x" 4, "32x" 5, "64x" 6, "128x" 7, "256x" 8)
set yrange [-8:8]
set key outside top center horizontal
set bmargin 13
set xzeroaxis lt -1 lw 1.5

do for [i = 0:nk-1] {
	set title sprintf("loopns fio ratios, kernel %s (TCG; medians of per-repetition ratios)", word(titles, i+1))
	plot datafile index i using 2:xtic(1) title "loopns / loop" lc rgb "#2a6fbb", \
		'' index i using 3 title "loopns / raw backing file" lc rgb "#e0902a", \
		0 notitle lt -1
}
unset multiplot

set terminal pngcairo size 1000,650 noenhanced font ',10'
set output 'pause_breakdown.png'
set style data histograms
set style histogram rowstacked
set style fill solid 0.8 border -1
set boxwidth 0.75
set xtics rotate by -45
set ylabel 'mean us per checkpoint'
set key outside right
set grid y
set title 'Pause breakdown (policy/vCPUs/dirty/interval)'
plot 'pause_breakdown.dat' using 2:xtic(1) title 'stop', '' using 3 title 'save', '' using 4 title 'dirty_log', '' using 5 title 'copy', '' using 6 title 'protect', '' using 7 title 'flush', '' using 8 title 'commit', '' using 9 title 'resume'
